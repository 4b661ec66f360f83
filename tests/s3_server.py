"""A local S3 for tests: moto's standalone server in a subprocess on 127.0.0.1.

``stop()`` and ``start()`` keep the port, so a test can take S3 away and bring it
back. moto keeps its buckets in memory: a restarted server starts empty.

moto 5.2.5 honours ``If-None-Match: *`` but checks and stores in two steps on a
threaded server, so two racing conditional PUTs can both succeed; real S3 makes
the check atomic. The child therefore runs moto with PUT Object serialised
(``_serve`` below), which gives the tests S3's guarantee and nothing more.

    with running_s3() as server:          # fake credentials + a server
        bucket = server.create_bucket()   # a fresh, uniquely named bucket
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3

DUMMY_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "NO_PROXY": "127.0.0.1",
    "no_proxy": "127.0.0.1",
}
STARTUP_TIMEOUT = 20.0  # seconds; moto imports a lot on first start
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class S3Server:
    """moto's server (``python -m moto.server``) as a child process."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Launch the server and wait until it answers HTTP."""
        if self._process is not None:
            return
        self._process = subprocess.Popen(
            [sys.executable, __file__, str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"moto server exited with code {self._process.returncode}")
            try:
                _DIRECT.open(f"{self.endpoint_url}/moto-api/", timeout=1).close()
                return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"moto server did not answer within {STARTUP_TIMEOUT} s")

    def stop(self) -> None:
        """Terminate the server (its data is lost) and wait for the port to close."""
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    def freeze(self) -> None:
        """SIGSTOP the server: it keeps its port and connections but answers nothing (a hang)."""
        if self._process is not None:
            self._process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT a frozen server: it answers again, with everything it had."""
        if self._process is not None:
            self._process.send_signal(signal.SIGCONT)

    def client(self) -> Any:
        """A boto3 S3 client for this server (the test's own view of the bucket)."""
        return boto3.client("s3", endpoint_url=self.endpoint_url, region_name="us-east-1")

    def create_bucket(self, name: str | None = None) -> str:
        """Create a bucket (a fresh unique one unless ``name`` is given) and return its name."""
        name = name or f"test-{uuid.uuid4().hex[:20]}"
        self.client().create_bucket(Bucket=name)
        return name

    def __enter__(self) -> S3Server:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class Outage:
    """A TCP relay on 127.0.0.1 in front of a server: ``cut()`` is a network outage, ``mend()`` ends it.

    Unlike stopping moto, the data behind the relay survives, so a test can check
    what an outage left in the store. While cut, connections are refused and the
    open ones are dropped.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()

    def mend(self) -> None:
        """Listen and relay again (on the same port)."""
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        """Stop listening and drop every relayed connection."""
        listener, self._listener = self._listener, None
        if listener is not None:
            _close(listener)  # shutdown() wakes the thread blocked in accept(); close() alone does not
        with self._lock:
            for sock in self._open:
                _close(sock)
            self._open.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _address = listener.accept()
            except OSError:
                return  # cut
            try:
                server = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                _close(client)
                continue
            with self._lock:
                self._open.update((client, server))
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass  # either side closed, or the outage cut both
        finally:
            for sock in (source, sink):
                _close(sock)
                with self._lock:
                    self._open.discard(sock)

    def __enter__(self) -> Outage:
        self.mend()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.cut()


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # not connected any more
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


@contextmanager
def dummy_aws_credentials() -> Iterator[None]:
    """Point boto3 at fake credentials only, whatever the machine has configured."""
    saved = {name: os.environ.get(name) for name in [*DUMMY_AWS_ENV, "AWS_PROFILE"]}
    os.environ.update(DUMMY_AWS_ENV)
    os.environ.pop("AWS_PROFILE", None)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def running_s3() -> Iterator[S3Server]:
    """A started server with boto3 pointed at fake credentials; stopped on exit."""
    with dummy_aws_credentials(), S3Server() as server:
        yield server


def _serve(port: int) -> None:
    """Run moto's server on 127.0.0.1:``port`` with PUT Object atomic, as on S3."""
    from moto import server
    from moto.s3.responses import S3Response

    lock = threading.Lock()
    put_object = S3Response.put_object

    def atomic_put_object(self: S3Response) -> Any:
        with lock:
            return put_object(self)

    S3Response.put_object = atomic_put_object
    server.main(["-H", "127.0.0.1", "-p", str(port)])


if __name__ == "__main__":
    _serve(int(sys.argv[1]))
