"""How the server reads requests: an event loop buffers each whole request before a thread runs Flask.

gunicorn manages the worker processes (WEB_CONCURRENCY of them, a crashed one replaced); each
worker is uvicorn's asyncio server (`uvicorn_worker.UvicornWorker`) parsing HTTP with h11. A
connection that is slow to send its headers or its body costs that event loop a socket and a
small buffer, never a thread. `BufferedRequests` reads the whole body, within BODY_SECONDS and
the body limit, and only then calls the WSGI app: a prediction or a health check on the event
loop's own thread (ON_LOOP: they never wait on the store, so they skip the hop to another thread
and back), every other request on one of the worker's `threads`
request threads, so a correction being learned never holds up a prediction. It also
answers the server's own refusals (long URL, large headers, large or slow body) as JSON and
writes the access log, control characters escaped. docs/serving.md has every limit.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import random
import re
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from flask import Flask
from uvicorn_worker import UvicornWorker

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

BODY_SECONDS = 20.0  # from the end of the headers to the last byte of the body (Heroku's router allows 30 s)
MAX_URL_BYTES = 4094  # path and query string, as sent (gunicorn's limit_request_line)
MAX_HEADER_BYTES = 8190  # all header names and values together (gunicorn's limit_request_field_size)
# Header fields (gunicorn's limit_request_fields).
MAX_HEADERS = 100
# What h11 buffers of a request's head before it refuses it with uvicorn's plain-text 400.
H11_BUFFER_BYTES = 16 * 1024
DEFAULT_THREADS = 4
# Requests answered on the event loop's thread: bounded CPU work that never waits on the store.
ON_LOOP = frozenset({("POST", "/api/predict"), ("GET", "/healthz")})
# A keep-alive connection stays with the worker that accepted it, and a few opened at once all
# go to whichever worker woke first: while a worker is busy with several connections, about one
# response in this many (at random) closes its connection, and its client reconnects to
# whichever worker accepts first, so the workers share the connections.
REBALANCE_REQUESTS = 20
BUSY_SECONDS = 1.0  # the window over which a worker's load is judged...
BUSY_SHARE = 0.5  # ...busy: its requests ran for at least this share of it
STREAM_BYTES = 1 << 20  # a response longer than this is sent as it is made, not collected first
MAX_LOGGED_PATH = 200  # bytes of a path the access log keeps
ACCESS_LOG = logging.getLogger("gunicorn.access")  # gunicorn's access log (`accesslog` in gunicorn.conf.py)

_UNPRINTABLE = re.compile(r'[^\x20-\x7e]|["\\]')  # control characters, non-ASCII, quote, backslash
_REFUSALS = {
    408: "The request body arrived too slowly; please send it again.",
    414: f"The address is too long (the limit is {MAX_URL_BYTES} bytes).",
    431: f"The request headers are too large (the limit is {MAX_HEADERS} fields, {MAX_HEADER_BYTES} bytes).",
}


def escaped(text: str) -> str:
    """`text` with every character outside printable ASCII, and `"` and `\\`, as a \\xNN escape."""
    return _UNPRINTABLE.sub(lambda match: f"\\x{ord(match.group()):02x}", text)


class BufferedRequests:
    """ASGI middleware: a whole, bounded request first, then the WSGI `app` on the event loop's
    thread (`on_loop` requests) or on one of `threads` request threads.

    A response is collected and sent by the event loop in one go; one from a request thread
    longer than STREAM_BYTES (an export) is sent from that thread as it is made, each part
    waiting for the client to take the one before.
    """

    def __init__(
        self,
        app: WSGIApp,
        max_body_bytes: int,
        threads: int = DEFAULT_THREADS,
        on_loop: frozenset[tuple[str, str]] = frozenset(),
    ) -> None:
        """`on_loop`: (method, path) of the requests that run on the event loop's thread."""
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.on_loop = on_loop
        # Requests beyond `threads` wait in the pool's queue, already read.
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="request")
        self.load = Load()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return  # no websockets; lifespan is off in the worker
        started = time.perf_counter()
        sent = {"status": 0, "bytes": 0}

        async def logged(message: Message) -> None:
            if message["type"] == "http.response.start":
                sent["status"] = message["status"]
            elif message["type"] == "http.response.body":
                sent["bytes"] += len(message.get("body", b""))
            await send(message)

        try:
            status = _refusal(scope)
            body = b""
            if status is None:
                status, body = await self._read_body(scope, receive)
            if status is None:
                await self._run(scope, body, logged)
            elif status > 0:
                await _send_error(logged, status, self._sentence(status))
        finally:
            _log_access(scope, sent["status"], sent["bytes"], time.perf_counter() - started)

    def _sentence(self, status: int) -> str:
        if status == 413:
            return f"The request is too large (the limit is {self.max_body_bytes / 2**20:g} MB)."
        if status == 400:
            return "The request body is malformed."
        return _REFUSALS[status]

    async def _read_body(self, scope: Scope, receive: Receive) -> tuple[int | None, bytes]:
        """(None, the body) or (an error status, b""); status 0: the client left."""
        declared = _header(scope, b"content-length")
        if declared is not None:
            if not declared.isdigit():
                return 400, b""
            if int(declared) > self.max_body_bytes:
                return 413, b""  # refused before a byte of it is read
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(BODY_SECONDS):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return 0, b""
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > self.max_body_bytes:  # a chunked body that grew past the limit
                        return 413, b""
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        return None, b"".join(chunks)
        except TimeoutError:
            return 408, b""

    async def _run(self, scope: Scope, body: bytes, send: Send) -> None:
        loop = asyncio.get_running_loop()
        began = time.perf_counter()
        if (scope["method"], scope["path"]) in self.on_loop:
            whole = self._respond(scope, body, None, send)
        else:
            whole = await loop.run_in_executor(self.pool, self._respond, scope, body, loop, send)
        self.load.add(scope.get("client"), time.perf_counter() - began)
        if whole is not None:
            start, content = whole
            if self.load.shared_and_busy and random.random() < 1.0 / REBALANCE_REQUESTS:
                start["headers"].append((b"connection", b"close"))
            await send(start)
            await send({"type": "http.response.body", "body": content})

    def _respond(
        self, scope: Scope, body: bytes, loop: asyncio.AbstractEventLoop | None, send: Send
    ) -> tuple[Message, bytes] | None:
        """The app's whole response (start message, body); on a request thread (`loop` given: the
        event loop's), None once a long response has been sent from here."""
        start: Message = {}

        def start_response(status: str, fields: list[tuple[str, str]], exc_info: Any = None) -> None:
            start.update(
                type="http.response.start",
                status=int(status.split(" ", 1)[0]),
                headers=[(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in fields],
            )

        result = self.app(_environ(scope, body), start_response)
        try:
            parts = iter(result)
            chunks: list[bytes] = []
            size = 0
            for chunk in parts:
                chunks.append(chunk)
                size += len(chunk)
                if size > STREAM_BYTES and loop is not None:
                    break
            else:
                return start, b"".join(chunks)

            def deliver(message: Message) -> None:
                asyncio.run_coroutine_threadsafe(send(message), loop).result()

            deliver(start)
            deliver({"type": "http.response.body", "body": b"".join(chunks), "more_body": True})
            for chunk in parts:
                deliver({"type": "http.response.body", "body": chunk, "more_body": True})
            deliver({"type": "http.response.body", "body": b""})
            return None
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()


class Load:
    """A worker's load over windows of BUSY_SECONDS: which connections sent requests, and how long
    the requests ran. `shared_and_busy`: the last full window had several connections and its
    requests ran for at least BUSY_SHARE of it (a lone client, or a worker mostly idle, is never
    closed on)."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.clients: set[Any] = set()  # (address, port) of the connections seen in this window
        self.running = 0.0  # seconds its requests ran
        self.shared_and_busy = False

    def add(self, client: Any, seconds: float) -> None:
        """A request from `client` (its connection's address and port) ran for `seconds`."""
        now = time.monotonic()
        window = now - self.started
        if window >= BUSY_SECONDS:
            self.shared_and_busy = len(self.clients) > 1 and self.running >= BUSY_SHARE * window
            self.started, self.clients, self.running = now, set(), 0.0
        self.clients.add(client)
        self.running += seconds


def _environ(scope: Scope, body: bytes) -> dict[str, Any]:
    """The WSGI environ (PEP 3333) of an ASGI HTTP scope and its whole body."""
    server = scope.get("server") or ("localhost", 80)
    client = scope.get("client")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": scope.get("root_path", "").encode().decode("latin-1"),
        "PATH_INFO": scope["path"].encode().decode("latin-1"),
        "QUERY_STRING": scope["query_string"].decode("latin-1"),
        "SERVER_NAME": server[0],
        "SERVER_PORT": str(server[1] or 0),
        "SERVER_PROTOCOL": f"HTTP/{scope['http_version']}",
        "REMOTE_ADDR": client[0] if client else "",
        "CONTENT_LENGTH": str(len(body)),  # the body as read, chunked or not
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": io.BytesIO(body),
        "wsgi.input_terminated": True,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    for raw_name, raw_value in scope["headers"]:
        name = raw_name.decode("latin-1").upper().replace("-", "_")
        if name in ("CONTENT_LENGTH", "TRANSFER_ENCODING"):
            continue  # the body is whole: CONTENT_LENGTH above says its size
        if name != "CONTENT_TYPE":
            name = "HTTP_" + name
        value = raw_value.decode("latin-1")
        environ[name] = f"{environ[name]},{value}" if name in environ else value
    return environ


def serving_app(flask_app: Flask, threads: int = DEFAULT_THREADS) -> BufferedRequests:
    """The Flask app as the ASGI app the workers serve (body limit: its MAX_CONTENT_LENGTH)."""
    return BufferedRequests(flask_app, flask_app.config["MAX_CONTENT_LENGTH"], threads, ON_LOOP)


class RequestBufferingWorker(UvicornWorker):
    """uvicorn's gunicorn worker, h11 parsing (its head buffer is bounded), serving `serving_app`."""

    CONFIG_KWARGS = {
        "loop": "asyncio",
        "http": "h11",
        "h11_max_incomplete_event_size": H11_BUFFER_BYTES,
        "lifespan": "off",
        "ws": "none",
        "access_log": False,  # BufferedRequests writes it, escaped
        "proxy_headers": False,  # the app trusts X-Forwarded-For per DIGITREC_TRUSTED_PROXIES only
        "server_header": False,
    }

    def load_wsgi(self) -> None:
        """Load `app:app` (the Flask WSGI app) as gunicorn does, then serve it through BufferedRequests."""
        super().load_wsgi()
        self.wsgi = serving_app(self.wsgi, self.cfg.threads)


def _refusal(scope: Scope) -> int | None:
    """414 or 431 when the request's head is over its limits, else None."""
    if len(scope.get("raw_path", b"")) + len(scope.get("query_string", b"")) > MAX_URL_BYTES:
        return 414
    headers = scope["headers"]
    if (
        len(headers) > MAX_HEADERS
        or sum(len(name) + len(value) for name, value in headers) > MAX_HEADER_BYTES
    ):
        return 431
    return None


def _header(scope: Scope, name: bytes) -> bytes | None:
    return next((value for key, value in scope["headers"] if key == name), None)


async def _send_error(send: Send, status: int, sentence: str) -> None:
    body = json.dumps({"error": sentence}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),  # what is left of the request is not read
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _log_access(scope: Scope, status: int, size: int, seconds: float) -> None:
    """One line per request: client "METHOD path" status bytes duration; no query string, no body."""
    client = scope.get("client")
    host = client[0] if client else "-"
    path = scope.get("raw_path", b"")[:MAX_LOGGED_PATH].decode("latin-1")
    method = escaped(scope.get("method", ""))
    ACCESS_LOG.info(f'{host} "{method} {escaped(path)}" {status} {size} {seconds * 1000:.0f}ms')
