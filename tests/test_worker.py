"""The serving setup: whole requests read in the event loop, JSON refusals, escaped access log, workers.

The first half drives `BufferedRequests` directly with ASGI messages; the second half talks HTTP to
the real server (gunicorn with uvicorn's worker, as in the Procfile).
"""

from __future__ import annotations

import ast
import asyncio
import json
import logging
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from digitrec.config import ROOT
from digitrec.web import serving
from digitrec.web.serving import MAX_HEADER_BYTES, MAX_HEADERS, MAX_URL_BYTES, BufferedRequests, escaped
from tests.live_server import LiveServer

KEEPALIVE = 1  # seconds: the live server's keep-alive, short so that idling out is quick to see
READ_TIMEOUT = 15.0  # seconds a test waits for the server before calling it stuck
LIMIT = 1000  # body limit of the middleware under test, bytes


# --- the middleware, with ASGI messages ---------------------------------------------------------


def _scope(path: bytes = b"/api/predict", headers: list[tuple[bytes, bytes]] | None = None) -> dict:
    return {
        "type": "http",
        "http_version": "1.1",
        "method": "POST",
        "path": path.decode("latin-1"),
        "raw_path": path,
        "query_string": b"",
        "headers": headers or [],
        "client": ("127.0.0.1", 5555),
    }


class _Echo:
    """A WSGI app that answers the body it read and the thread it ran on."""

    def __init__(self) -> None:
        self.threads: list[str] = []

    def __call__(self, environ, start_response):
        body = environ["wsgi.input"].read()
        self.threads.append(threading.current_thread().name)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [body]


def _exchange(
    app: BufferedRequests, scope: dict, chunks: list[bytes], pause: float = 0.0
) -> tuple[int, dict[bytes, bytes], bytes]:
    """Send `chunks` as the body (`pause` s before each), return (status, headers, body)."""
    replies: list[dict] = []

    async def receive() -> dict:
        if not chunks:
            await asyncio.sleep(3600)  # the body is complete: nothing more comes
        await asyncio.sleep(pause)
        chunk = chunks.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    async def send(message: dict) -> None:
        replies.append(message)

    asyncio.run(app(scope, receive, send))
    start = replies[0]
    body = b"".join(message.get("body", b"") for message in replies[1:])
    return start["status"], dict(start["headers"]), body


def _error(body: bytes) -> str:
    decoded = json.loads(body)
    assert set(decoded) == {"error"}
    return decoded["error"]


@pytest.fixture
def echo() -> _Echo:
    return _Echo()


@pytest.fixture
def app(echo: _Echo) -> BufferedRequests:
    return BufferedRequests(echo, LIMIT, threads=2)


def test_the_app_gets_the_whole_body_after_it_has_arrived(app, echo):
    status, _, body = _exchange(app, _scope(), [b"ab", b"cd", b"ef"], pause=0.01)
    assert (status, body) == (200, b"abcdef")
    assert echo.threads[0].startswith("request")


def test_the_app_sees_the_headers_and_the_whole_body_as_wsgi_does(app):
    seen: dict = {}

    def inspect(environ, start_response):
        seen.update(environ, body=environ["wsgi.input"].read())
        start_response("201 Created", [("X-Answer", "yes")])
        return [b"made"]

    headers = [(b"content-type", b"application/json"), (b"x-many", b"a"), (b"x-many", b"b")]
    headers.append((b"transfer-encoding", b"chunked"))
    status, reply_headers, body = _exchange(
        BufferedRequests(inspect, LIMIT), _scope(headers=headers), [b"{", b"}"]
    )
    assert (status, reply_headers[b"x-answer"], body) == (201, b"yes", b"made")
    assert (seen["body"], seen["CONTENT_LENGTH"], seen["CONTENT_TYPE"]) == (b"{}", "2", "application/json")
    assert (seen["HTTP_X_MANY"], seen["PATH_INFO"], seen["REMOTE_ADDR"]) == (
        "a,b",
        "/api/predict",
        "127.0.0.1",
    )
    assert "HTTP_TRANSFER_ENCODING" not in seen  # the body arrives whole, its size in CONTENT_LENGTH


def test_a_busy_worker_now_and_then_closes_a_connection_so_workers_share_them(monkeypatch):
    monkeypatch.setattr(serving, "REBALANCE_REQUESTS", 1)
    monkeypatch.setattr(serving, "BUSY_SECONDS", 0.2)

    def work(environ, start_response):
        time.sleep(float(environ["QUERY_STRING"] or 0))  # seconds the request keeps the worker busy
        start_response("200 OK", [])
        return [b""]

    def closes(app: BufferedRequests, port: int, busy: float) -> bool:
        scope = {**_scope(), "client": ("127.0.0.1", port), "query_string": str(busy).encode()}
        return _exchange(app, scope, [b""])[1].get(b"connection") == b"close"

    def run(ports: list[int], busy: float, seconds: float = 0.5) -> list[bool]:
        app = BufferedRequests(work, LIMIT, threads=2)
        closed, until = [], time.monotonic() + seconds
        while time.monotonic() < until:
            closed += [closes(app, port, busy) for port in ports]
            time.sleep(0.05 - busy)
        return closed

    busy_and_shared = run([5555, 6666], busy=0.04)
    assert not any(busy_and_shared[:2])  # no full window judged yet
    assert any(busy_and_shared)  # once one is, a response closes its connection
    assert not any(run([5555], busy=0.04))  # a lone connection, however busy
    assert not any(run([5555, 6666], busy=0.0))  # several connections, but the worker mostly idle


def test_predictions_and_health_checks_run_on_the_event_loop_others_on_request_threads(echo):
    app = BufferedRequests(echo, LIMIT, threads=2, on_loop=frozenset({("POST", "/api/predict")}))
    loop_thread = threading.current_thread().name  # asyncio.run's loop runs on this thread
    _exchange(app, _scope(path=b"/api/predict"), [b"{}"])
    _exchange(app, _scope(path=b"/api/feedback"), [b"{}"])
    assert echo.threads[0] == loop_thread
    assert echo.threads[1].startswith("request")
    assert set(serving.ON_LOOP) == {("POST", "/api/predict"), ("GET", "/healthz")}


def test_a_long_response_is_sent_as_it_is_made_and_the_app_closed(monkeypatch):
    monkeypatch.setattr(serving, "STREAM_BYTES", 10)
    closed = []

    class Parts(list):
        def close(self):
            closed.append(True)

    def export(environ, start_response):
        start_response("200 OK", [])
        return Parts([b"0123456789", b"abcdefghij", b"KLMNOPQRST"])

    replies: list[dict] = []

    async def run() -> None:
        async def receive() -> dict:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict) -> None:
            replies.append(message)

        await BufferedRequests(export, LIMIT)(_scope(), receive, send)

    asyncio.run(run())
    assert replies[0]["status"] == 200
    bodies = [message["body"] for message in replies[1:]]
    assert len(bodies) > 2  # in parts, not collected into one
    assert b"".join(bodies) == b"0123456789abcdefghijKLMNOPQRST"
    assert closed == [True]


def test_a_declared_body_over_the_limit_is_refused_before_it_is_read(app, echo):
    scope = _scope(headers=[(b"content-length", str(LIMIT + 1).encode())])
    status, headers, body = _exchange(app, scope, [b"x"])
    assert status == 413
    assert "too large" in _error(body)
    assert headers[b"connection"] == b"close"
    assert echo.threads == []


def test_a_streamed_body_growing_past_the_limit_is_refused(app, echo):
    status, _, body = _exchange(app, _scope(), [b"x" * 600, b"x" * 600])
    assert status == 413
    assert "too large" in _error(body)
    assert echo.threads == []


def test_a_body_slower_than_the_time_limit_gets_a_408(app, echo, monkeypatch):
    monkeypatch.setattr(serving, "BODY_SECONDS", 0.2)
    status, headers, body = _exchange(app, _scope(), [b"a", b"b", b"c", b"d"], pause=0.1)
    assert status == 408
    assert "too slowly" in _error(body)
    assert headers[b"connection"] == b"close"
    assert echo.threads == []


def test_a_long_url_gets_a_json_414(app):
    status, _, body = _exchange(app, _scope(path=b"/" + b"a" * MAX_URL_BYTES), [b""])
    assert status == 414
    assert "too long" in _error(body)


@pytest.mark.parametrize(
    "headers",
    [[(b"x-big", b"a" * MAX_HEADER_BYTES)], [(b"x-same", b"1")] * (MAX_HEADERS + 1)],
    ids=["bytes", "fields"],
)
def test_large_headers_get_a_json_431(app, headers):
    status, _, body = _exchange(app, _scope(headers=headers), [b""])
    assert status == 431
    assert "headers are too large" in _error(body)


def test_requests_run_on_the_pool_threads_side_by_side():
    # Two requests at once each get a thread: the second is not queued behind the first.
    both_in = threading.Barrier(2, timeout=READ_TIMEOUT)

    def meet(environ, start_response):
        both_in.wait()  # breaks (and the test fails) unless both run at the same time
        start_response("200 OK", [])
        return [b""]

    app = BufferedRequests(meet, LIMIT, threads=2)

    async def twice() -> list[int]:
        statuses: list[int] = []

        async def one() -> None:
            async def receive() -> dict:
                return {"type": "http.request", "body": b"", "more_body": False}

            async def send(message: dict) -> None:
                if message["type"] == "http.response.start":
                    statuses.append(message["status"])

            await app(_scope(), receive, send)

        await asyncio.gather(one(), one())
        return statuses

    assert asyncio.run(twice()) == [200, 200]


def test_the_access_log_escapes_control_characters(app, caplog):
    with caplog.at_level(logging.INFO, logger="gunicorn.access"):
        _exchange(app, _scope(path=b'/x\n127.0.0.1 "GET /forged" 200'), [b""])
    [line] = caplog.messages
    assert "\n" not in line
    assert line.startswith('127.0.0.1 "POST /x\\x0a127.0.0.1 \\x22GET /forged\\x22 200" 200 0 ')


def test_escaped_keeps_printable_ascii_and_escapes_the_rest():
    assert escaped("/api/predict?a=1") == "/api/predict?a=1"
    assert escaped('\r\n\t\x1b"\\é') == "\\x0d\\x0a\\x09\\x1b\\x22\\x5c\\xe9"


# --- configuration --------------------------------------------------------------------------------


def test_the_production_config_uses_the_buffering_worker():
    # Read, not run: running gunicorn.conf.py would change this process's environment.
    tree = ast.parse((ROOT / "gunicorn.conf.py").read_text())
    settings = {
        node.targets[0].id: node.value
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
    }
    assert ast.literal_eval(settings["worker_class"]) == "digitrec.web.serving.RequestBufferingWorker"
    assert "ctypes" not in (ROOT / "gunicorn.conf.py").read_text()


def test_the_arbiter_shares_the_imports_but_starts_no_thread():
    # Before forking, gunicorn's arbiter imports the worker class. TensorFlow's modules come
    # with it (the forked workers share their memory), but no thread may exist at the fork.
    probe = (
        "import sys, digitrec.web.serving\n"
        "threads = [l for l in open('/proc/self/status') if l.startswith('Threads:')][0].split()[1]\n"
        "print('tensorflow' in sys.modules, threads)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True)
    assert done.stdout.split() == ["True", "1"]


# --- the real server: connections, keep-alive, refusals, stopping -----------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    with LiveServer(env={"GUNICORN_CMD_ARGS": f"--keep-alive {KEEPALIVE}"}, workers=1) as live:
        yield live


def _connect(server: LiveServer) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=READ_TIMEOUT)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _request(server: LiveServer, path: str = "/healthz", headers: str = "") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n{headers}\r\n".encode()


def _responses(sock: socket.socket, count: int) -> list[tuple[str, dict[str, str], bytes]]:
    """Read `count` responses: (status line, headers, body) each."""
    buffer, found = b"", []
    while len(found) < count:
        while b"\r\n\r\n" not in buffer:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"closed after {len(found)} responses")
            buffer += chunk
        head, buffer = buffer.split(b"\r\n\r\n", 1)
        status, *lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
        size = int(headers["content-length"])
        while len(buffer) < size:
            buffer += sock.recv(65536)
        body, buffer = buffer[:size], buffer[size:]
        found.append((status, headers, body))
    return found


def _closed_by_server(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def test_more_kept_alive_connections_than_threads_are_all_served(server):
    # 4 requests run the app at once per worker (gunicorn.conf.py `threads`), but a connection
    # waiting for its next request holds no thread: 10 open connections each get a second answer.
    connections = [_connect(server) for _ in range(10)]
    try:
        for sock in connections:
            sock.sendall(_request(server))
            assert _responses(sock, 1)[0][0] == "HTTP/1.1 200 OK"
        for sock in reversed(connections):
            sock.sendall(_request(server))
            status, headers, _ = _responses(sock, 1)[0]
            assert status == "HTTP/1.1 200 OK"
            assert headers.get("connection", "keep-alive").lower() != "close"
    finally:
        for sock in connections:
            sock.close()


def test_pipelined_requests_are_answered_in_order(server):
    with _connect(server) as sock:
        sock.sendall(_request(server) * 3)  # three requests in one send
        assert [status for status, _, _ in _responses(sock, 3)] == ["HTTP/1.1 200 OK"] * 3


def test_an_idle_connection_is_closed_after_the_keep_alive(server):
    with _connect(server) as sock:
        sock.sendall(_request(server))
        _responses(sock, 1)
        assert _closed_by_server(sock)  # within READ_TIMEOUT, else recv raises TimeoutError


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [("/" + "a" * 9000, "", "414"), ("/healthz", f"X-Big: {'a' * 9000}\r\n", "431")],
)
def test_the_servers_own_refusals_are_json(server, path, headers, status):
    with _connect(server) as sock:
        sock.sendall(_request(server, path, headers))
        line, response_headers, body = _responses(sock, 1)[0]
    assert line.split()[1] == status
    assert response_headers["content-type"] == "application/json"
    assert set(json.loads(body)) == {"error"}


def test_a_newline_in_the_path_cannot_forge_an_access_log_line(server):
    with _connect(server) as sock:
        sock.sendall(_request(server, "/nowhere%0a127.0.0.1%20%22GET%20/forged%22%20200"))
        assert _responses(sock, 1)[0][0] == "HTTP/1.1 404 Not Found"
    deadline = time.monotonic() + READ_TIMEOUT
    while "/nowhere" not in server.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    [line] = [line for line in server.log().splitlines() if "/nowhere" in line]
    assert line.startswith('127.0.0.1 "GET /nowhere%0a127.0.0.1%20%22GET%20/forged%22%20200" 404 ')
    assert not any(line.startswith('127.0.0.1 "GET /forged"') for line in server.log().splitlines())


def test_a_stopping_worker_finishes_the_request_in_flight_then_exits():
    slow_body = b'{"image": "' + b"A" * 4000 + b'"}'
    with LiveServer(workers=1) as live, _connect(live) as sock:
        head = (
            f"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1:{live.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(slow_body)}\r\n\r\n"
        ).encode()
        sock.sendall(head + slow_body[:100])
        live.terminate()
        deadline = time.monotonic() + READ_TIMEOUT
        while "Handling signal: term" not in live.log() and time.monotonic() < deadline:
            time.sleep(0.05)
        sock.sendall(slow_body[100:])  # the rest of the request in flight, during the stop
        assert _responses(sock, 1)[0][0] == "HTTP/1.1 400 Bad Request"  # not base64: answered all the same
        assert live.wait(READ_TIMEOUT) == 0  # well before graceful_timeout (20 s)


def test_a_prediction_is_answered_while_slow_uploads_hold_every_thread():
    # More slow bodies than request threads (4): they wait in the event loop, not on a thread.
    with LiveServer(workers=1) as live:
        slow = [_connect(live) for _ in range(8)]
        try:
            for sock in slow:
                sock.sendall(
                    b"POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    b"Content-Length: 4000\r\n\r\n{"
                )
            with ThreadPoolExecutor(1) as pool:
                started = time.monotonic()
                health = pool.submit(live.get_json, "/healthz", READ_TIMEOUT).result()
            assert health["status"] == "ok"
            assert time.monotonic() - started < 5.0
        finally:
            for sock in slow:
                sock.close()


def _read_until_closed(sock: socket.socket) -> bytes:
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    return received


def test_a_malformed_request_line_gets_uvicorns_plain_400_and_is_closed(server):
    # Refused by h11 before any app code runs: the one answer that is not JSON (docs/serving.md).
    with _connect(server) as sock:
        sock.sendall(b"NOT A REQUEST\r\n\r\n")
        answer = _read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert answer.endswith(b"\r\n\r\nInvalid HTTP request received.")


def test_a_head_past_the_h11_buffer_is_refused_and_closed(server):
    with _connect(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        try:
            for _ in range(40):  # 40 x 1 KB of header, never finished, in separate sends
                sock.sendall(b"X-Pad: " + b"a" * 1017 + b"\r\n")
                time.sleep(0.01)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused and closed while the head was still coming
        answer = _read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n") or answer == b""
