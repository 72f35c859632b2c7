"""The floor of any Python server here: a bare ASGI app on the same uvicorn (httptools, uvloop,
one worker) that reads the request body and answers a fixed JSON, with no framework, model or
log. ``bench/serve.py`` loads it like the real servers, to show how much of the time is HTTP."""

BODY = b'{"predictions": [0.5]}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(scope, receive, send):  # type: ignore[no-untyped-def]
    if scope["type"] != "http":
        return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
