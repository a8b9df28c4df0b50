"""ASGI middleware that answers 413 for request bodies over the upload limit, before the
app reads them: at once from Content-Length, else as soon as the streamed (chunked) body
passes it. The app parses bodies itself and would turn the interruption into its own 400
("error parsing the body"), so once the limit is passed whatever the app answers is
replaced by the 413."""
from __future__ import annotations

from fastapi.responses import JSONResponse


class BodyTooLarge(Exception):
    pass


class UploadLimitMiddleware:
    """413 for request bodies over the limit: at once from Content-Length, else while reading."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, int(max_bytes)

    def _message(self) -> str:
        mb = self.max_bytes / 1048576
        size = f"{mb:.0f} MB" if mb >= 10 else f"{mb:.2g} MB"
        return (f"the upload is larger than the limit of {size} ({self.max_bytes} bytes); send a smaller photo "
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
        over = False      # the body passed the limit
        answered = False  # a response has started (ours or the app's)

        async def counting_receive():
            nonlocal seen, over
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    over = not answered  # an answer already under way is left alone
                    raise BodyTooLarge()
            return message

        async def guarded_send(message):
            nonlocal answered
            if over:  # the app's answer to an interrupted body (400 or 500): ours instead
                if message["type"] == "http.response.start" and not answered:
                    answered = True
                    await self._reject(send)
                return
            if message["type"] == "http.response.start":
                answered = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except BodyTooLarge:
            pass
        if over and not answered:
            await self._reject(send)
