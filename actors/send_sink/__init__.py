"""A development delivery platform ("send-sink"): the platform API, recorded and misbehaving.

Started by `contactplan send-sink` and by `contactplan serve` when no DELIVERY_URL is set.
It stores what it receives (a JSONL journal under its data folder), answers a repeated
idempotency key with the first result without storing again, can be told to fail, slow down,
hang or rate-limit (`POST /_sink/faults`), and emits signed delivery feedback to
contactplan's webhook (`POST /_sink/emit-feedback`). See `app.py` for the routes.
"""

from __future__ import annotations

from pathlib import Path

from actors.send_sink.app import create_send_sink_app

__all__ = ["create_send_sink_app", "run_send_sink"]


def run_send_sink(
    host: str,
    port: int,
    data_dir: Path,
    *,
    token: str = "dev",  # noqa: S107 - the development sink's documented default
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
    auto_feedback: dict[str, float] | None = None,
    log_level: str = "info",
) -> None:
    """Serve the send-sink with uvicorn until interrupted (blocking)."""
    import uvicorn

    app = create_send_sink_app(
        token=token,
        data_dir=data_dir,
        webhook_url=webhook_url,
        webhook_secret=webhook_secret,
        auto_feedback=auto_feedback,
    )
    # Hanging calls (timeout faults) must not hold a shutdown for long.
    uvicorn.run(app, host=host, port=port, log_level=log_level.lower(), timeout_graceful_shutdown=2)
