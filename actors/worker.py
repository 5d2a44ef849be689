"""The worker process: a Dramatiq worker plus the scheduler loop, on one event loop with its own
Tortoise context (never shared with uvicorn's loop: see docs/architecture.md).

Adding work:
- an actor module: declare actors with `actors.broker.actor` and list the module in
  `ACTOR_MODULES` so the worker imports it;
- a periodic job: decorate an `async def` taking no arguments with `@tick` in a module listed
  in `ACTOR_MODULES`; the scheduler loop calls every tick once per `TICK_SECONDS`.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import signal
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future

import dramatiq
from dramatiq.asyncio import EventLoopThread, set_event_loop_thread

from actors.broker import setup_broker

log = logging.getLogger(__name__)

Tick = Callable[[], Awaitable[None]]

# Modules whose import declares actors and ticks.
ACTOR_MODULES: tuple[str, ...] = ("actors.ping", "actors.tick", "actors.dashboard_sweep")

# Periodic jobs of the scheduler loop, filled by `@tick` when ACTOR_MODULES are imported.
TICKS: list[Tick] = []

TICK_SECONDS = 1.0


def tick(fn: Tick) -> Tick:
    """Register `fn` to be awaited by the worker's scheduler loop every `TICK_SECONDS`."""
    if fn not in TICKS:
        TICKS.append(fn)
    return fn


def load_actor_modules() -> None:
    """Import every module of ACTOR_MODULES (declares their actors and ticks)."""
    for name in ACTOR_MODULES:
        importlib.import_module(name)


async def run_ticks(stop: asyncio.Event, interval: float = TICK_SECONDS) -> None:
    """Await every registered tick, then sleep `interval`, until `stop` is set.

    A failing tick is logged and does not stop the others or the next round.
    """
    while not stop.is_set():
        for fn in list(TICKS):
            try:
                await fn()
            except Exception:
                log.exception("tick %s failed", getattr(fn, "__qualname__", fn))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)


class WorkerRuntime:
    """Dramatiq worker threads + an event loop thread running async actors, ticks and the ORM."""

    def __init__(self, database_url: str, redis_url: str, *, threads: int = 8) -> None:
        self.database_url = database_url
        self.redis_url = redis_url
        self.threads = threads
        self._loop_thread: EventLoopThread | None = None
        self._worker: dramatiq.Worker | None = None
        self._ticks: Future | None = None
        self._stop_ticks: asyncio.Event | None = None

    def start(self) -> None:
        """Initialise the ORM on the loop thread, then start ticks and consuming messages."""
        load_actor_modules()
        broker = setup_broker(self.redis_url)
        loop_thread = EventLoopThread(log)
        loop_thread.daemon = True
        loop_thread.start(timeout=5.0)
        self._loop_thread = loop_thread
        set_event_loop_thread(loop_thread)  # where dramatiq runs async actors
        loop_thread.run_coroutine(self._init_orm())
        self._stop_ticks = loop_thread.run_coroutine(_new_event())
        self._ticks = asyncio.run_coroutine_threadsafe(
            run_ticks(self._stop_ticks), loop_thread.loop
        )
        self._worker = dramatiq.Worker(broker, worker_threads=self.threads)
        self._worker.start()
        log.info(
            "worker started: %d threads, actors %s, %d ticks",
            self.threads,
            sorted(broker.actors),
            len(TICKS),
        )

    def stop(self, timeout_ms: int = 15_000) -> None:
        """Finish running messages, stop ticks, close the ORM and the loop.

        The default timeout stays under `serve`'s 20 s before it kills a child.
        """
        if self._worker is not None:
            self._worker.stop(timeout=timeout_ms)
            self._worker = None
        loop_thread = self._loop_thread
        if loop_thread is None:
            return
        if self._stop_ticks is not None and self._ticks is not None:
            loop_thread.loop.call_soon_threadsafe(self._stop_ticks.set)
            try:
                self._ticks.result(timeout=timeout_ms / 1000)
            except Exception:
                log.exception("scheduler loop did not stop cleanly")
        try:
            loop_thread.run_coroutine(_close_orm())
        except Exception:
            log.exception("ORM did not close cleanly")
        loop_thread.stop()
        set_event_loop_thread(None)
        self._loop_thread = None
        log.info("worker stopped")

    async def _init_orm(self) -> None:
        from tortoise import Tortoise

        from contactplan.db import tortoise_config

        # Global fallback: actors and ticks run as separate tasks of this loop.
        await Tortoise.init(config=tortoise_config(self.database_url), _enable_global_fallback=True)


async def _new_event() -> asyncio.Event:
    return asyncio.Event()


async def _close_orm() -> None:
    from tortoise import Tortoise

    await Tortoise.close_connections()


def run_worker(database_url: str, redis_url: str, *, threads: int = 8) -> int:
    """Run the worker until SIGTERM/SIGINT; return an exit code."""
    stopping = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        log.info("worker received %s, stopping", signal.Signals(signum).name)
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    runtime = WorkerRuntime(database_url, redis_url, threads=threads)
    try:
        runtime.start()
        while not stopping.wait(timeout=1.0):
            pass
    finally:
        runtime.stop()
    return 0
