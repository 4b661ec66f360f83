"""A lean keep-alive HTTP/1.1 client for the benchmark: pre-built requests over one socket each.

The client shares the 2 cores with the server, so it does as little as it can per
request: the request bytes are built once, the response is read by Content-Length
and only its status is checked on the timed path.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any


class BenchClientError(RuntimeError):
    """The server answered something the benchmark cannot use (not HTTP, no Content-Length)."""


def post_json_request(host: str, port: int, path: str, body: dict[str, Any]) -> bytes:
    """The full bytes of a keep-alive `POST path` with a JSON body."""
    payload = json.dumps(body).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\nConnection: keep-alive\r\n\r\n"
    )
    return head.encode("ascii") + payload


def exchange_once(host: str, port: int, request: bytes, what: str, timeout: float = 30.0) -> bytes:
    """Send one pre-built request on a fresh connection; its body, or RuntimeError unless 200."""
    connection = KeepAliveConnection(host, port, timeout)
    try:
        status, body = connection.exchange(request)
    finally:
        connection.close()
    if status != 200:
        raise RuntimeError(f"{what} failed with {status}: {body[:300]!r}")
    return body


class KeepAliveConnection:
    """One persistent TCP connection; reconnects when the server closes it."""

    def __init__(self, host: str, port: int, timeout: float = 30.0) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self._sock: socket.socket | None = None
        self._buffer = b""

    def exchange(self, request: bytes) -> tuple[int, bytes]:
        """Send pre-built request bytes; the response (status, body)."""
        try:
            return self._exchange(request)
        except (ConnectionError, BenchClientError):
            # The server may drop an idle keep-alive connection: one retry on a fresh socket.
            self.close()
            return self._exchange(request)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
        self._sock, self._buffer = None, b""

    def _exchange(self, request: bytes) -> tuple[int, bytes]:
        if self._sock is None:
            self._sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
            self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock.sendall(request)
        head = self._read_until(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = dict(line.split(":", 1) for line in header_lines if ":" in line)
        headers = {name.strip().lower(): value.strip() for name, value in headers.items()}
        if "content-length" not in headers:
            raise BenchClientError(f"no Content-Length in the response: {status_line!r}")
        body = self._read_exactly(int(headers["content-length"]))
        if headers.get("connection", "").lower() == "close":
            self.close()
        return int(status_line.split()[1]), body

    def _read_until(self, marker: bytes) -> bytes:
        while marker not in self._buffer:
            self._receive()
        head, self._buffer = self._buffer.split(marker, 1)
        return head

    def _read_exactly(self, size: int) -> bytes:
        while len(self._buffer) < size:
            self._receive()
        body, self._buffer = self._buffer[:size], self._buffer[size:]
        return body

    def _receive(self) -> None:
        assert self._sock is not None
        chunk = self._sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self._buffer += chunk


@dataclass
class Run:
    """What a timed run produced: per-request latencies (s), elapsed wall time (s), failures."""

    latencies: list[float]
    elapsed: float
    failures: int
    first_failure: str | None

    @property
    def throughput(self) -> float:
        """Successful requests per second."""
        return len(self.latencies) / self.elapsed if self.elapsed > 0 else 0.0


def run_requests(
    host: str,
    port: int,
    requests: list[bytes],
    concurrency: int,
    seconds: float | None = None,
    count: int | None = None,
) -> Run:
    """Send `requests` round-robin from `concurrency` keep-alive connections.

    Stops after `seconds` of wall time, or after `count` requests in all; each
    connection starts at a different offset so they do not send the same drawing.
    """
    if (seconds is None) == (count is None):
        raise ValueError("give exactly one of seconds or count")
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(concurrency + 1)
    deadline = [0.0]
    remaining = [count or 0]

    def take_turn() -> bool:
        if seconds is not None:
            return time.perf_counter() < deadline[0]
        with lock:
            remaining[0] -= 1
            return remaining[0] >= 0

    def worker(offset: int) -> None:
        connection = KeepAliveConnection(host, port)
        mine: list[float] = []
        index = offset
        start.wait()
        try:
            while take_turn():
                request = requests[index % len(requests)]
                index += 1
                began = time.perf_counter()
                try:
                    status, body = connection.exchange(request)
                except (OSError, BenchClientError) as error:
                    failures.append(repr(error))
                    connection.close()
                    continue
                if status == 200:
                    mine.append(time.perf_counter() - began)
                else:
                    failures.append(f"HTTP {status}: {body[:200]!r}")
        finally:
            connection.close()
            with lock:
                latencies.extend(mine)

    threads = [
        threading.Thread(target=worker, args=(i * len(requests) // concurrency,), daemon=True)
        for i in range(concurrency)
    ]
    for thread in threads:
        thread.start()
    began = time.perf_counter()
    deadline[0] = began + (seconds or 0.0)
    start.wait()
    for thread in threads:
        thread.join()
    return Run(latencies, time.perf_counter() - began, len(failures), failures[0] if failures else None)
