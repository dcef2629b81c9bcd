"""Small ASGI helpers shared by the raw ASGI apps (origin, blob service)."""

from __future__ import annotations

from starlette.types import Receive, Send


async def answer_lifespan(receive: Receive, send: Send) -> None:
    """Acknowledge startup and shutdown for an app that holds nothing to set up."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
