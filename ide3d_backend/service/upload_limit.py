"""ASGI middleware that answers 413 for request bodies over the upload limit, before the
app reads them: at once from Content-Length, else as soon as the streamed body passes it."""
from __future__ import annotations

from fastapi.responses import JSONResponse


class BodyTooLarge(Exception):
    pass


class UploadLimitMiddleware:
    """413 for request bodies over the limit: at once from Content-Length, else while reading."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, int(max_bytes)

    def _message(self) -> str:
        return (f"the upload is larger than {self.max_bytes / 1048576:.0f} MB; send a smaller photo "
                "(a portrait needs no more than a few megapixels)")

    async def _reject(self, send):
        body = JSONResponse({"detail": self._message()}, status_code=413).body
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    if int(value) > self.max_bytes:
                        return await self._reject(send)
                except ValueError:
                    pass
        seen = 0
        started = False

        async def counting_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge()
            return message

        async def tracking_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._reject(send)
