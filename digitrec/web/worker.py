"""The gunicorn worker class: gthread's request handling, with one thread per connection.

gunicorn's gthread keeps idle keep-alive connections in a selector on the worker's
main thread: each request on a connection wakes the main thread, which hands the
socket to a pool thread, whose finished request wakes the main thread again to put
the socket back. Here each connection has its own thread from accept to close; it
waits for the connection's next request in poll() and handles it itself, so the
kernel wakes the one thread that serves it. Measured with the bench's client over
keep-alive, the same app answered one client's predictions in 3.33 / 3.42 ms (p50)
against 3.89 / 3.96 ms under gthread, interleaved runs, and with ~0.4 ms less CPU
per request.

What stays gthread's: parsing, the WSGI call, keep-alive and closing rules, at most
`threads` requests handled at once (idle connections hold no slot), at most
`worker_connections` open connections, and the graceful stop (idle connections stay
open STOP_KEEPALIVE_LINGER s, a request arriving meanwhile is answered with
"Connection: close").

All workers accept from one shared listening socket. Clients keep their connection,
so whichever worker accepts it serves all of its requests; when a few clients
connect at once, the first worker to wake would accept them all and leave the other
cores idle. A worker therefore pauses briefly after each accept, so the next waiting
connection goes to another worker.
"""

from __future__ import annotations

import errno
import select
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from gunicorn.workers.gthread import DEFAULT_WORKER_DATA_TIMEOUT, STOP_KEEPALIVE_LINGER, TConn, ThreadWorker

ACCEPT_PAUSE = 0.002  # seconds a worker leaves the listening socket to the others after an accept
TICK = 1.0  # seconds between the main thread's heartbeats, and between an idle thread's checks for a stop


class ConnectionThreadWorker(ThreadWorker):
    """gthread with a thread per connection, handing the next new connection to another worker."""

    def init_process(self) -> None:
        self._requests = threading.BoundedSemaphore(self.cfg.threads)
        self._count_lock = threading.Lock()
        # Threads are reused from connection to connection: a new thread for each grew every worker
        # by ~200 MB in the soak test's minute of one-request connections (its own malloc arena and
        # TensorFlow executor each time; see also M_ARENA_MAX in gunicorn.conf.py).
        self._connections = ThreadPoolExecutor(self.cfg.worker_connections, thread_name_prefix="connection")
        super().init_process()

    def run(self) -> None:
        wake = self.method_queue.fileno()  # handle_exit writes here: a stop wakes the poll at once
        listeners = {listener.fileno(): listener for listener in self.sockets}
        # poll(), not select(): a worker with ~1,000 connections may hold descriptors past select's 1,024.
        accepting, full = select.poll(), select.poll()
        for fd in [*listeners, wake]:
            accepting.register(fd, select.POLLIN)
        full.register(wake, select.POLLIN)
        for listener in self.sockets:
            listener.setblocking(False)
        while self.alive:
            self.notify()
            room = self.nr_conns < self.worker_connections
            for fd, _ in (accepting if room else full).poll((TICK if room else 0.05) * 1000):
                if fd == wake:
                    self.method_queue.run_callbacks(fd)
                elif self.alive:
                    self.accept(listeners[fd])
            if not self.is_parent_alive():
                self.alive = False  # connection threads finish up as in a stop
        deadline = time.monotonic() + self.cfg.graceful_timeout
        while self.nr_conns > 0 and time.monotonic() < deadline:
            self.notify()
            time.sleep(0.05)
        for listener in self.sockets:
            listener.close()

    def accept(self, listener) -> None:
        """Take one waiting connection, if another worker did not, and start its thread."""
        try:
            client, address = listener.accept()
        except OSError as error:
            if error.errno in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                return  # another worker took it, or the client gave up
            raise
        with self._count_lock:
            self.nr_conns += 1
        conn = TConn(self.cfg, client, address, listener.getsockname())
        self._connections.submit(self.serve, conn)
        time.sleep(ACCEPT_PAUSE)

    def serve(self, conn: TConn) -> None:
        """Answer the connection's requests until it closes, idles past keep-alive, or the worker stops."""
        graceful = False
        poller = select.poll()
        poller.register(conn.sock, select.POLLIN)
        try:
            idle = DEFAULT_WORKER_DATA_TIMEOUT  # for the first request, as gthread waits for it
            while self._readable(poller, idle):
                conn.data_ready = True  # handle() must not wait for data itself
                with self._requests:
                    keep = self.handle(conn)
                if keep is not True:  # closing after a response: let the client read it all
                    graceful = True
                    break
                idle = 0.0 if conn.parser.unreader.buf.getvalue() else self.cfg.keepalive
        finally:
            conn.close(graceful=graceful)
            with self._count_lock:
                self.nr_conns -= 1

    def _readable(self, poller: select.poll, seconds: float) -> bool:
        """Whether the polled connection's next request arrives within `seconds` (less once the worker stops).

        Bytes already read ahead into the parser's buffer (`seconds` 0) count as arrived.
        """
        if seconds <= 0:
            return True
        deadline = time.monotonic() + seconds
        while True:
            if not self.alive:
                deadline = min(deadline, time.monotonic() + STOP_KEEPALIVE_LINGER)
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if poller.poll(min(left, TICK) * 1000):
                return True
