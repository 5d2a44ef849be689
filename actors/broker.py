"""The Dramatiq broker, built from a URL at process start, and the `actor` decorator.

`dramatiq.actor` binds an actor to the global broker when its module is imported and creates
a default broker pointing at localhost if none is set. Here actor modules only *declare*
actors; `setup_broker(redis_url)` (called by the worker and by the API process) builds the
one `RedisBroker` and binds every declared actor to it. Importing an actor module never
opens a connection.

    from actors.broker import actor

    @actor(queue_name="plans", max_retries=5)
    async def run_plan(run_id: int) -> None: ...

    run_plan.send(42)        # after setup_broker(); enqueues a message
    await run_plan(42)       # calls the function itself (tests, shells)
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import default_middleware

_lock = threading.Lock()
_declared: dict[str, DeclaredActor] = {}
_broker: RedisBroker | None = None
_broker_url: str | None = None


class BrokerNotReady(RuntimeError):
    """An actor was sent to before `setup_broker` was called in this process."""


class DeclaredActor:
    """An actor declared at import time and bound to the broker by `setup_broker`."""

    def __init__(
        self, fn: Callable[..., Any], *, name: str, queue_name: str, priority: int, options: dict
    ) -> None:
        self.fn = fn
        self.actor_name = name
        self.queue_name = queue_name
        self.priority = priority
        self.options = options
        self._bound: dramatiq.Actor | None = None
        self.__doc__ = fn.__doc__
        self.__name__ = fn.__name__

    def bind(self, broker: RedisBroker) -> dramatiq.Actor:
        """Declare this actor on `broker` (replacing an earlier binding)."""
        unknown = set(self.options) - broker.actor_options
        if unknown:
            raise ValueError(f"actor {self.actor_name}: unknown options {sorted(unknown)}")
        self._bound = dramatiq.Actor(
            self.fn,
            broker=broker,
            actor_name=self.actor_name,
            queue_name=self.queue_name,
            priority=self.priority,
            options=self.options,
        )
        return self._bound

    @property
    def bound(self) -> dramatiq.Actor:
        """The Dramatiq actor on the current broker."""
        if self._bound is None:
            raise BrokerNotReady(
                f"actor {self.actor_name!r} has no broker: call "
                "actors.broker.setup_broker(redis_url) at process start"
            )
        return self._bound

    def send(self, *args: Any, **kwargs: Any) -> dramatiq.Message:
        """Enqueue a message for this actor."""
        return self.bound.send(*args, **kwargs)

    def send_with_options(self, **options: Any) -> dramatiq.Message:
        """Enqueue with Dramatiq options (`args`, `kwargs`, `delay`, `max_retries`, ...)."""
        return self.bound.send_with_options(**options)

    def message(self, *args: Any, **kwargs: Any) -> dramatiq.Message:
        """Build (not send) a message, e.g. for pipelines and groups."""
        return self.bound.message(*args, **kwargs)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run the function in the caller (a coroutine for async actors)."""
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"DeclaredActor({self.actor_name!r}, queue={self.queue_name!r})"


def actor(
    fn: Callable[..., Any] | None = None,
    *,
    actor_name: str | None = None,
    queue_name: str = "default",
    priority: int = 0,
    **options: Any,
) -> Any:
    """Declare an actor (sync or async function); usable bare or with Dramatiq's options."""

    def declare(function: Callable[..., Any]) -> DeclaredActor:
        name = actor_name or function.__name__
        with _lock:
            if name in _declared and _declared[name].fn.__module__ != function.__module__:
                raise ValueError(f"two actors are named {name!r}")
            declared = DeclaredActor(
                function, name=name, queue_name=queue_name, priority=priority, options=options
            )
            _declared[name] = declared
            if _broker is not None:
                _broker.actors.pop(name, None)
                declared.bind(_broker)
        return declared

    return declare(fn) if fn is not None else declare


def declared_actors() -> dict[str, DeclaredActor]:
    """Every actor declared so far, by name."""
    return dict(_declared)


def setup_broker(redis_url: str) -> RedisBroker:
    """Build the process's RedisBroker for `redis_url` (redis:// or unix://), bind all actors.

    Idempotent for the same URL; a different URL replaces the broker and rebinds.
    """
    global _broker, _broker_url
    with _lock:
        if _broker is not None and _broker_url == redis_url:
            return _broker
        if _broker is not None:
            _broker.close()
        # Async actors run on the event loop thread the worker starts itself (actors.worker).
        broker = RedisBroker(url=redis_url, middleware=[m() for m in default_middleware])
        for declared in _declared.values():
            declared.bind(broker)
        dramatiq.set_broker(broker)
        _broker, _broker_url = broker, redis_url
        return broker


def current_broker() -> RedisBroker:
    """The broker `setup_broker` built in this process."""
    if _broker is None:
        raise BrokerNotReady("call actors.broker.setup_broker(redis_url) at process start")
    return _broker
