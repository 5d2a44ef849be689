"""In-process CPU profile of bench/graphql.py's case (a): no HTTP, the schema executed directly.

Seeds the benchmark data (100 segments with 5 authors) into its own database, then runs
`SEGMENTS_QUERY` N times through `build_schema(settings).execute` with a real
RequestContext (authenticated admin, fresh loaders per request), prints ms per request
and, with --profile, cProfile's top functions. Not a test: run it by hand.

    python -m bench.graphql_profile --database-url postgres://postgres@127.0.0.1:5432/postgres \
        [--requests 100] [--batches 5] [--compare] [--profile] [--top 30] \
        [--database-name NAME] [--drop]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import statistics
import time
from typing import Any

from bench.graphql import SECRET, SEGMENTS_QUERY, gid, seed

BENCH_DB = "contactplan_bench_graphql_profile"


def strawberry_resolvers(schema: Any) -> int:
    """Undo schema/fast_fields.py: give its fields back strawberry's own resolvers and
    graphql-core's per-field path (no plain-leaf marks, strawberry's executor)."""
    from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

    from schema.fast_fields import PLAIN

    restored = 0
    for graphql_type in schema._schema.type_map.values():
        for graphql_field in getattr(graphql_type, "fields", {}).values():
            resolve = getattr(graphql_field, "resolve", None)
            if getattr(resolve, "__module__", None) == "schema.fast_fields":
                field = graphql_field.extensions["strawberry-definition"]
                graphql_field.resolve = schema.schema_converter.from_resolver(field)
                graphql_field.extensions = {
                    k: v for k, v in graphql_field.extensions.items() if k != PLAIN
                }
                restored += 1
    schema.execution_context_class = StrawberryGraphQLCoreExecutionContext
    return restored


async def run(url: str, args: argparse.Namespace) -> None:
    """Execute query (a) in timed batches after a warm-up; print timings (and the profile).

    With --compare the batches alternate between build_schema's schema and one whose
    fields use strawberry's own resolvers, so both see the same machine load.
    """
    from tortoise import Tortoise

    from contactplan.db import tortoise_config
    from contactplan.settings import Settings
    from permissions.auth import authenticate
    from resolvers.context import RequestContext
    from schema.root import build_schema

    seeded = await seed(url)
    settings = Settings.from_env({"DATABASE_URL": url, "SECRET_KEY": SECRET})
    schemas = {"build_schema": build_schema(settings)}
    if args.compare:
        schemas["strawberry resolvers"] = build_schema(settings)
        print("fields restored:", strawberry_resolvers(schemas["strawberry resolvers"]))
    variables = {"db": gid("Database", seeded.database)}
    await Tortoise.init(config=tortoise_config(url))
    try:
        principal = await authenticate(settings, f"Bearer {seeded.token}")

        async def once(schema: Any) -> Any:
            context = RequestContext(settings=settings, request_id="profile", principal=principal)
            result = await schema.execute(
                SEGMENTS_QUERY, variable_values=variables, context_value=context
            )
            if result.errors:
                raise RuntimeError(result.errors)
            return result.data

        answers = [await once(schema) for schema in schemas.values()]
        assert all(a == answers[0] for a in answers), "the schemas answer differently"
        assert len(answers[0]["segments"]["edges"]) == 100, answers[0]
        for schema in schemas.values():
            for _ in range(min(50, args.requests)):
                await once(schema)
        profiler = cProfile.Profile() if args.profile else None
        times: dict[str, tuple[list[float], list[float]]] = {n: ([], []) for n in schemas}
        if profiler:
            profiler.enable()
        for _ in range(args.batches):
            for name, schema in schemas.items():
                began, cpu = time.perf_counter(), time.process_time()
                for _ in range(args.requests):
                    await once(schema)
                times[name][0].append((time.perf_counter() - began) * 1000 / args.requests)
                times[name][1].append((time.process_time() - cpu) * 1000 / args.requests)
        if profiler:
            profiler.disable()
        print(f"{args.batches} batches x {args.requests} requests, ms/request (min / median):")
        for name, (walls, cpus) in times.items():
            print(
                f"  {name:22} wall {min(walls):6.2f} / {statistics.median(walls):6.2f}"
                f"   CPU {min(cpus):6.2f} / {statistics.median(cpus):6.2f}"
            )
        if profiler:
            if args.profile_file:
                profiler.dump_stats(args.profile_file)
            stats = pstats.Stats(profiler).sort_stats("tottime")
            stats.print_stats(args.top)
            stats.sort_stats("cumulative").print_stats(args.top)
    finally:
        await Tortoise.close_connections()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--profile", action="store_true", help="print cProfile's top functions")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--profile-file", help="also write the cProfile data to this file")
    parser.add_argument(
        "--compare", action="store_true", help="also time strawberry's own resolvers"
    )
    parser.add_argument("--batches", type=int, default=5, help="timed batches of --requests")
    parser.add_argument("--database-name", default=BENCH_DB, help=f"default {BENCH_DB}")
    parser.add_argument("--drop", action="store_true", help="drop the database afterwards")
    args = parser.parse_args(argv)
    if not args.database_url:
        parser.error("give --database-url or DATABASE_URL (a PostgreSQL server)")

    from contactplan.db import drop_database, migrate, recreate_database

    url = asyncio.run(recreate_database(args.database_url, args.database_name))
    asyncio.run(migrate(url))
    try:
        asyncio.run(run(url, args))
    finally:
        if args.drop:
            asyncio.run(drop_database(args.database_url, args.database_name))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
