"""The `contactplan` command: serve, api, worker, migrate, demo, create-user, send-sink."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import logging
import os
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable
from typing import Any

from contactplan.services import (
    ServiceError,
    check_services,
    ensure_port_free,
    free_port,
    prepare_database,
    redact,
    running_services,
    with_orm,
)
from contactplan.settings import Settings, SettingsError

log = logging.getLogger("contactplan")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2  # bad configuration or usage (argparse uses 2 too)
EXIT_INTERRUPTED = 130

SEND_SINK_TOKEN = "dev"  # noqa: S105 - the development send-sink's documented token
# What `serve`'s send-sink reports back for every delivery it starts.
SEND_SINK_FEEDBACK = '{"delivered": 0.95, "bounced": 0.05, "opened": 0.4, "clicked": 0.1}'


class CommandError(Exception):
    """A failure the user can act on; printed without a traceback."""


# ---------------------------------------------------------------- helpers


def print_first_admin(credentials: tuple[str, str] | None) -> None:
    """Show the first administrator's password (only ever printed once)."""
    if credentials is None:
        return
    username, password = credentials
    lines = [
        "First start: an administrator was created. This password is shown only once.",
        f"Login: {username} / {password}",
        "Log in with the GraphQL mutation",
        f'  mutation {{ login(username: "{username}", password: "...") {{ token }} }}',
        "and send the token as the header  Authorization: Bearer <token>",
    ]
    print("\n".join(lines), flush=True)


def public_url(settings: Settings, path: str = "") -> str:
    """The URL a browser on this machine uses to reach the API."""
    host = settings.host
    if host in {"0.0.0.0", ""}:  # noqa: S104 - only turned into a display address
        host = "127.0.0.1"
    elif host == "::":
        host = "[::1]"
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}{path}"


def raise_on_sigterm() -> None:
    """Let SIGTERM unwind like Ctrl-C, so `finally` blocks stop embedded servers."""

    def handler(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def exit_zero_after_graceful_sigterm() -> None:
    """uvicorn re-raises the signal it stopped for; after a graceful stop that is success."""
    signal.signal(signal.SIGTERM, lambda _signum, _frame: None)


# ---------------------------------------------------------------- commands


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    """Everything for one machine: services, migrations, first admin, supervised children."""
    from contactplan.supervisor import Supervisor

    raise_on_sigterm()
    ensure_port_free(settings.host, settings.port)
    with running_services(settings) as resolved:
        check_services(resolved)
        credentials = prepare_database(resolved.database_url)
        specs, sink_url = serve_children(resolved, threads=args.threads)
        graphql_url = public_url(resolved, "/graphql")
        print(f"contactplan: data in {resolved.data_dir}", flush=True)
        print_first_admin(credentials)
        if sink_url:
            print(f"Deliveries go to the development send-sink at {sink_url}", flush=True)
        print(f"GraphiQL: {graphql_url}", flush=True)
        threading.Thread(
            target=_announce_when_ready,
            args=(public_url(resolved, "/healthz"), graphql_url),
            daemon=True,
        ).start()
        return Supervisor(specs).run()


def serve_children(settings: Settings, *, threads: int) -> tuple[list[Any], str | None]:
    """`serve`'s children: the send-sink (only when DELIVERY_URL is unset), API and worker.

    Returns the child specs and the send-sink's URL (None when DELIVERY_URL is set).
    """
    from contactplan.supervisor import SUPERVISOR_PID_VAR, ChildSpec

    def command(*argv: str) -> list[str]:
        return [sys.executable, "-m", "contactplan", *argv]

    env = _child_env(settings, {SUPERVISOR_PID_VAR: str(os.getpid())})
    specs: list[ChildSpec] = []
    sink_url = None
    if not settings.delivery_url:
        import secrets

        from contactplan.app import FEEDBACK_WEBHOOK_PATH

        port, token = free_port(), settings.delivery_token or SEND_SINK_TOKEN
        sink_url = f"http://127.0.0.1:{port}"
        # The sink signs its feedback to the API's webhook with the secret both get here.
        secret = settings.delivery_webhook_secret or secrets.token_urlsafe(32)
        env = env | {"DELIVERY_WEBHOOK_SECRET": secret}
        sink = command(
            "send-sink", "--port", str(port), "--token", token,
            "--webhook-url", public_url(settings, FEEDBACK_WEBHOOK_PATH),
            "--auto-feedback", SEND_SINK_FEEDBACK,
        )  # fmt: skip
        specs.append(ChildSpec("send-sink", sink, env))
        env = env | {"DELIVERY_URL": sink_url, "DELIVERY_TOKEN": token}
    specs.append(ChildSpec("api", command("api"), env))
    specs.append(ChildSpec("worker", command("worker", "--threads", str(threads)), env))
    return specs, sink_url


def _child_env(settings: Settings, extra: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=settings.database_url or "",
        REDIS_URL=settings.redis_url or "",
        DATA_DIR=str(settings.data_dir),
        PYTHONUNBUFFERED="1",
        **extra,
    )
    return env


def _announce_when_ready(healthz_url: str, graphql_url: str, timeout: float = 300.0) -> None:
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(healthz_url, timeout=2.0):  # noqa: S310 - our own URL
                print(f"contactplan is ready: {graphql_url}", flush=True)
                return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    log.warning("the API did not become healthy at %s", healthz_url)


def cmd_api(args: argparse.Namespace, settings: Settings) -> int:
    """The GraphQL API on HOST:PORT (uvicorn)."""
    import uvicorn

    from actors.broker import setup_broker
    from contactplan.app import create_app
    from contactplan.supervisor import watch_parent

    with running_services(settings) as resolved:
        setup_broker(resolved.redis_url)
        app = create_app(resolved)
        watch_parent()
        config = uvicorn.Config(
            app,
            host=resolved.host,
            port=resolved.port,
            log_level=resolved.log_level.lower(),
            server_header=False,
        )
        server = uvicorn.Server(config)
        exit_zero_after_graceful_sigterm()
        server.run()
        return EXIT_OK if server.started else EXIT_FAILED


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    """Dramatiq worker + scheduler loop."""
    from actors.worker import run_worker
    from contactplan.supervisor import watch_parent

    with running_services(settings) as resolved:
        check_services(resolved)
        watch_parent()
        return run_worker(resolved.database_url, resolved.redis_url, threads=args.threads)


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    """Apply pending migrations."""
    raise_on_sigterm()
    with running_services(settings, redis=False) as resolved:
        check_services(resolved, redis=False)
        print_first_admin(prepare_database(resolved.database_url))
        print(f"Database is up to date: {redact(resolved.database_url)}", flush=True)
    return EXIT_OK


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    """Generate a demo contact database."""
    from bench.datagen import DatabaseExistsError, generate

    if args.contacts < 1:
        raise CommandError("--contacts must be at least 1")
    raise_on_sigterm()
    with running_services(settings, redis=False) as resolved:
        check_services(resolved, redis=False)
        print_first_admin(prepare_database(resolved.database_url))
        try:
            database_id = asyncio.run(
                generate(
                    resolved.database_url,
                    contacts=args.contacts,
                    seed=args.seed,
                    name=args.name,
                    progress=not args.quiet,
                    replace=args.replace,
                )
            )
        except DatabaseExistsError as exc:
            raise CommandError(
                f"contact database {args.name!r} exists; pass --replace to delete it with its "
                "segments, plans and reports, or choose another --name"
            ) from exc
    print(
        f"Demo contact database {args.name!r} (id {database_id}) with {args.contacts} contacts",
        flush=True,
    )
    return EXIT_OK


def cmd_create_user(args: argparse.Namespace, settings: Settings) -> int:
    """Create a user with a profile and database grants."""
    from permissions.errors import InvalidInput

    password = args.password if args.password is not None else _read_password()
    if not password:
        raise CommandError("the password must not be empty")
    raise_on_sigterm()

    async def create() -> Any:
        from permissions.bootstrap import create_user, ensure_builtin_profiles

        await ensure_builtin_profiles()
        return await create_user(
            args.username,
            password,
            profile=args.profile,
            database_ids=args.database or None,
            display_name=args.display_name,
        )

    with running_services(settings, redis=False) as resolved:
        check_services(resolved, redis=False)
        try:
            user = asyncio.run(with_orm(resolved.database_url, create))
        except InvalidInput as error:
            raise CommandError(str(error)) from error
    print(f"User {user.username!r} created with profile {args.profile}", flush=True)
    return EXIT_OK


def _read_password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if first != getpass.getpass("Repeat password: "):
            raise CommandError("the passwords do not match")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def cmd_schema(args: argparse.Namespace, settings: Settings) -> int:
    """Print the GraphQL schema as SDL, or write it to --output."""
    from pathlib import Path

    from schema.export import schema_sdl, write_schema

    if args.output:
        print(f"wrote {write_schema(Path(args.output))}")
    else:
        sys.stdout.write(schema_sdl())
    return 0


def cmd_send_sink(args: argparse.Namespace, settings: Settings) -> int:
    """The development delivery platform (records what it receives)."""
    from actors.send_sink import run_send_sink
    from contactplan.supervisor import watch_parent

    data_dir = settings.data_dir.expanduser().resolve() / "send-sink"
    data_dir.mkdir(parents=True, exist_ok=True)
    watch_parent()
    exit_zero_after_graceful_sigterm()
    run_send_sink(
        args.host,
        args.port,
        data_dir,
        token=args.token,
        webhook_url=args.webhook_url,
        webhook_secret=settings.delivery_webhook_secret or None,
        auto_feedback=json.loads(args.auto_feedback) if args.auto_feedback else None,
        log_level=settings.log_level.lower(),
    )
    return EXIT_OK


# ---------------------------------------------------------------- parser

ENVIRONMENT_HELP = """\
configuration comes from environment variables (see README.md, "Configuration"):
  DATABASE_URL, REDIS_URL  unset -> embedded PostgreSQL / Redis under DATA_DIR (default ./data)
  HOST, PORT               where the API listens (default 127.0.0.1:8000)
  LOG_LEVEL                DEBUG, INFO (default), WARNING, ERROR
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `contactplan`."""
    parser = argparse.ArgumentParser(
        prog="contactplan",
        description="GraphQL backend for marketing segmentation and planning.",
        epilog=ENVIRONMENT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, handler: Callable[..., int], summary: str, details: str) -> Any:
        sub = commands.add_parser(
            name,
            help=summary,
            description=f"{summary}\n\n{details}",
            epilog=ENVIRONMENT_HELP,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sub.set_defaults(handler=handler)
        return sub

    serve = add(
        "serve",
        cmd_serve,
        "Run everything on this machine (API, worker and scheduler).",
        "Starts embedded PostgreSQL/Redis under DATA_DIR when DATABASE_URL/REDIS_URL are\n"
        "unset, applies migrations, creates the first administrator (its password is printed\n"
        "once), then runs the API and the worker as child processes and restarts them if\n"
        "they crash. Stop with Ctrl-C or SIGTERM.",
    )
    serve.add_argument("--threads", type=int, default=8, help="worker threads (default 8)")
    add(
        "api",
        cmd_api,
        "Run the GraphQL API (uvicorn) on HOST:PORT.",
        "Serves /graphql (GraphiQL in a browser) and /healthz. Does not migrate: run\n"
        "`contactplan migrate` first. Run several behind a load balancer to scale out.",
    )
    worker = add(
        "worker",
        cmd_worker,
        "Run a background worker with the plan scheduler.",
        "Consumes Dramatiq messages from Redis and runs the scheduler loop every second.\n"
        "Run several for more throughput; the scheduler claims work with row locks.",
    )
    worker.add_argument("--threads", type=int, default=8, help="worker threads (default 8)")
    add(
        "migrate",
        cmd_migrate,
        "Apply pending database migrations and set up accounts.",
        "Also updates the built-in profiles and, on an empty database, creates the first\n"
        "administrator and prints its password once. Safe to run again.",
    )
    demo = add(
        "demo",
        cmd_demo,
        "Generate a demo contact database with contacts and events.",
        "Migrates first. The same seed gives the same data.",
    )
    demo.add_argument("--contacts", type=int, required=True, help="number of contacts")
    demo.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    demo.add_argument("--name", default="demo", help="contact database name (default demo)")
    demo.add_argument("--quiet", action="store_true", help="no progress output")
    demo.add_argument(
        "--replace",
        action="store_true",
        help="delete an existing database of that name first, with its segments, plans and reports",
    )
    create_user = add(
        "create-user",
        cmd_create_user,
        "Create a user.",
        "The password comes from --password, else it is asked for (or read as one line\n"
        "from standard input when that is not a terminal).",
    )
    create_user.add_argument("username")
    create_user.add_argument("--password", help="the password (visible in `ps`; prefer stdin)")
    create_user.add_argument(
        "--profile", default="USER", help="profile name: ADMIN, POWERUSER, USER (default), GUEST"
    )
    create_user.add_argument(
        "--database",
        type=int,
        action="append",
        metavar="ID",
        help="contact database id the user may use (repeat for several)",
    )
    create_user.add_argument("--display-name", default="", help="name shown in the UI")
    schema = add(
        "schema",
        cmd_schema,
        "Print the GraphQL schema (SDL).",
        "The same SDL as the checked-in schema.graphql (`python -m schema.export`).",
    )
    schema.add_argument("--output", metavar="PATH", help="write to PATH instead of stdout")
    sink = add(
        "send-sink",
        cmd_send_sink,
        "Run the development delivery platform.",
        "Records every delivery under DATA_DIR/send-sink; can be told to fail or slow down.",
    )
    sink.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1")
    sink.add_argument("--port", type=int, default=8025, help="default 8025")
    sink.add_argument(
        "--token", default=SEND_SINK_TOKEN, help=f"bearer token it accepts ({SEND_SINK_TOKEN})"
    )
    sink.add_argument(
        "--webhook-url",
        default=None,
        help="contactplan's feedback webhook; feedback is signed with DELIVERY_WEBHOOK_SECRET",
    )
    sink.add_argument(
        "--auto-feedback",
        default=None,
        metavar="JSON",
        help='feedback rates emitted when a delivery starts, e.g. {"delivered": 1, "opened": 0.3}',
    )
    return parser


def configure_logging(level: str) -> None:
    """One log format for every process, on standard error."""
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if level != "DEBUG":
        # pgserver logs every initdb/pg_ctl command line with its full output at INFO.
        logging.getLogger("pgserver").setLevel(logging.WARNING)
    # pgserver's lock lives in platformdirs' runtime dir; a fallback there is harmless.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR", module="platformdirs")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `contactplan` command; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as error:
        print(f"contactplan: configuration error: {error}", file=sys.stderr)
        return EXIT_CONFIG
    configure_logging(settings.log_level)
    try:
        return args.handler(args, settings)
    except (CommandError, ServiceError) as error:
        print(f"contactplan {args.command}: {error}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
