"""The gunicorn worker class: a thread per connection, and the next connection left to another worker."""

from __future__ import annotations

import ast
import errno
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest

from digitrec.config import ROOT
from digitrec.web import worker as worker_module
from digitrec.web.worker import ACCEPT_PAUSE, ConnectionThreadWorker
from tests.live_server import LiveServer

KEEPALIVE = 1  # seconds: the live server's keep-alive, short so that idling out is quick to see
READ_TIMEOUT = 15.0  # seconds a test waits for the server before calling it stuck


# --- accepting, without a server ----------------------------------------------------------------


class _Listener:
    """A listening socket stand-in: hands out one end of a socket pair, or fails like accept(2)."""

    def __init__(self, error: int | None = None) -> None:
        self.error = error
        self.peers: list[socket.socket] = []

    def accept(self) -> tuple[socket.socket, str]:
        if self.error is not None:
            raise OSError(self.error, "accept failed")
        ours, theirs = socket.socketpair()
        self.peers += [ours, theirs]
        return ours, "peer"

    def getsockname(self) -> str:
        return "listener"


def _worker(monkeypatch) -> tuple[ConnectionThreadWorker, list[float], list[tuple]]:
    """A worker with no gunicorn arbiter behind it; its pauses and served connections are recorded."""
    instance = object.__new__(ConnectionThreadWorker)
    instance.cfg = SimpleNamespace(is_ssl=False)
    instance.nr_conns = 0
    instance._count_lock = threading.Lock()
    instance._connections = ThreadPoolExecutor(1)
    served: list[tuple] = []
    instance.started = threading.Event()

    def serve(conn) -> None:
        served.append((conn, threading.current_thread()))
        instance.started.set()

    pauses: list[float] = []
    monkeypatch.setattr(instance, "serve", serve)
    monkeypatch.setattr(worker_module.time, "sleep", pauses.append)
    return instance, pauses, served


def test_a_worker_serves_a_new_connection_on_its_own_thread_and_steps_aside(monkeypatch):
    worker, pauses, served = _worker(monkeypatch)
    listener = _Listener()
    worker.accept(listener)
    assert worker.started.wait(READ_TIMEOUT)
    assert worker.nr_conns == 1
    [(conn, thread)] = served
    assert conn.sock is listener.peers[0]
    assert thread is not threading.current_thread()
    assert pauses == [ACCEPT_PAUSE]
    for sock in listener.peers:
        sock.close()


@pytest.mark.parametrize("error", [errno.EAGAIN, errno.ECONNABORTED])
def test_a_worker_that_lost_the_race_does_not_wait(monkeypatch, error):
    worker, pauses, served = _worker(monkeypatch)
    worker.accept(_Listener(error))  # another worker took the connection, or the client left
    assert worker.nr_conns == 0
    assert served == []
    assert pauses == []


def test_the_production_config_uses_it():
    # Read, not run: running gunicorn.conf.py would set this process's malloc and imports.
    tree = ast.parse((ROOT / "gunicorn.conf.py").read_text())
    settings = {
        node.targets[0].id: node.value
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
    }
    assert ast.literal_eval(settings["worker_class"]) == "digitrec.web.worker.ConnectionThreadWorker"
    assert "reuse_port" not in settings  # one shared socket: the pause hands the next connection over


def test_the_arbiter_shares_the_imports_but_starts_no_thread():
    # Before forking, gunicorn's arbiter imports the worker class. TensorFlow's modules come
    # with it (the forked workers share their memory), but no thread may exist at the fork.
    probe = (
        "import sys, digitrec.web.worker\n"
        "threads = [l for l in open('/proc/self/status') if l.startswith('Threads:')][0].split()[1]\n"
        "print('tensorflow' in sys.modules, threads)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True)
    assert done.stdout.split() == ["True", "1"]


# --- the real server: connections, keep-alive, stopping -------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    with LiveServer(env={"GUNICORN_CMD_ARGS": f"--keep-alive {KEEPALIVE}"}, workers=1) as live:
        yield live


def _connect(server: LiveServer) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=READ_TIMEOUT)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _health_request(server: LiveServer) -> bytes:
    return f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n\r\n".encode()


def _responses(sock: socket.socket, count: int) -> list[tuple[str, dict[str, str]]]:
    """Read `count` responses: (status line, headers) each, bodies read and dropped."""
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
        buffer = buffer[size:]
        found.append((status, headers))
    return found


def _closed_by_server(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def test_more_kept_alive_connections_than_threads_are_all_served(server):
    # 4 requests at once per worker (gunicorn.conf.py `threads`), but a connection waiting for its
    # next request holds no slot: 10 open connections each get their second answer too.
    connections = [_connect(server) for _ in range(10)]
    try:
        for sock in connections:
            sock.sendall(_health_request(server))
            assert _responses(sock, 1)[0][0] == "HTTP/1.1 200 OK"
        for sock in reversed(connections):
            sock.sendall(_health_request(server))
            status, headers = _responses(sock, 1)[0]
            assert status == "HTTP/1.1 200 OK"
            assert headers.get("connection", "keep-alive").lower() != "close"
    finally:
        for sock in connections:
            sock.close()


def test_pipelined_requests_are_answered_in_order(server):
    with _connect(server) as sock:
        sock.sendall(_health_request(server) * 3)  # three requests in one send
        assert [status for status, _ in _responses(sock, 3)] == ["HTTP/1.1 200 OK"] * 3


def test_an_idle_connection_is_closed_after_the_keep_alive(server):
    with _connect(server) as sock:
        sock.sendall(_health_request(server))
        _responses(sock, 1)
        assert _closed_by_server(sock)  # within READ_TIMEOUT, else recv raises TimeoutError


def test_a_stopping_worker_answers_a_waiting_connection_then_exits():
    with LiveServer(workers=1) as live, _connect(live) as sock:
        sock.sendall(_health_request(live))
        _responses(sock, 1)
        live.terminate()
        deadline = time.monotonic() + READ_TIMEOUT
        while "Handling signal: term" not in live.log() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)  # the master passes the signal on to its worker
        sock.sendall(_health_request(live))  # the waiting connection's next request, during the stop
        assert _responses(sock, 1)[0][0] == "HTTP/1.1 200 OK"
        assert _closed_by_server(sock)
        assert live.wait(READ_TIMEOUT) == 0  # well before graceful_timeout (20 s)


def test_connections_past_the_limit_wait_for_a_free_one():
    # At most 2 open connections per worker: the third and fourth wait to be accepted until earlier
    # ones close (fewer connections than threads: gunicorn then answers each with Connection: close).
    env = {"GUNICORN_CMD_ARGS": f"--keep-alive {KEEPALIVE} --worker-connections 2"}
    with LiveServer(env=env, workers=1) as live:
        connections = [_connect(live) for _ in range(4)]
        try:
            for sock in connections:
                sock.sendall(_health_request(live))
            for sock in connections:
                assert _responses(sock, 1)[0][0] == "HTTP/1.1 200 OK"
        finally:
            for sock in connections:
                sock.close()
