"""The real production server for tests: gunicorn with `gunicorn.conf.py` in a subprocess on 127.0.0.1.

    with LiveServer(workers=2) as server:
        urllib.request.urlopen(f"{server.url}/healthz")
        server.pids()  # the worker processes, for memory and crash tests

It runs the same command as the `Procfile` (`gunicorn --config gunicorn.conf.py app:app`, with the
environment assignments before it), only bound to 127.0.0.1 on a free port, with a fresh local store
in a temp dir unless `env` names one.
The server gets its own process group, so stopping it never leaves a worker behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT = 60.0  # seconds; each worker imports TensorFlow and warms the models up
STOP_TIMEOUT = 10.0  # seconds between SIGTERM and SIGKILL
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy


def procfile_environment() -> dict[str, str]:
    """The NAME=value assignments before the command on the Procfile's `web:` line."""
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.startswith("web:"):
            words = line.removeprefix("web:").split()
            return dict(word.split("=", 1) for word in words[: words.index("gunicorn")])
    return {}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    """gunicorn serving `app:app` as a child process group; a context manager."""

    def __init__(self, env: dict[str, str] | None = None, workers: int = 1, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        self._extra_env = dict(env or {})
        self._tempdir: tempfile.TemporaryDirectory[str] | None = None
        self._log_path: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def store(self) -> str:
        """The DIGITREC_STORE the server uses: `env`'s, else a fresh dir (known once started)."""
        if "DIGITREC_STORE" in self._extra_env:
            return self._extra_env["DIGITREC_STORE"]
        if self._tempdir is None:
            raise RuntimeError("the server is not running")
        return str(Path(self._tempdir.name) / "store")

    def start(self) -> None:
        """Launch gunicorn and wait until GET /healthz answers 200 and every worker is forked."""
        if self._process is not None:
            return
        self._tempdir = tempfile.TemporaryDirectory(prefix="digitrec-live-")
        self._log_path = Path(self._tempdir.name) / "server.log"
        gunicorn = Path(sys.executable).parent / "gunicorn"
        bind = f"127.0.0.1:{self.port}"  # the command line overrides the config file's bind
        command = [str(gunicorn), "--config", "gunicorn.conf.py", "--bind", bind, "app:app"]
        with self._log_path.open("wb") as log:
            self._process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=self._env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """SIGTERM the whole process group (master and workers), SIGKILL it if it lingers."""
        process, self._process = self._process, None
        if process is not None:
            _signal_group(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                _signal_group(process.pid, signal.SIGKILL)
                process.wait()
            # workers that outlived their master still share its process group
            _signal_group(process.pid, signal.SIGKILL)
        if self._tempdir is not None:
            self._tempdir.cleanup()
            self._tempdir = None

    def terminate(self) -> None:
        """SIGTERM the master alone (a graceful stop, as at a restart); `wait` for it to stop."""
        if self._process is None:
            raise RuntimeError("the server is not running")
        self._process.send_signal(signal.SIGTERM)

    def wait(self, timeout: float = STOP_TIMEOUT) -> int:
        """The master's exit code once it has stopped; subprocess.TimeoutExpired after `timeout` s."""
        if self._process is None:
            raise RuntimeError("the server is not running")
        return self._process.wait(timeout=timeout)

    @property
    def master_pid(self) -> int:
        if self._process is None:
            raise RuntimeError("the server is not running")
        return self._process.pid

    def pids(self) -> list[int]:
        """The worker process ids (children of the gunicorn master), sorted."""
        return sorted(_children(self.master_pid))

    def log(self) -> str:
        """Everything the server wrote to stdout and stderr so far."""
        if self._log_path is None or not self._log_path.exists():
            return ""
        return self._log_path.read_text(encoding="utf-8", errors="replace")

    def get_json(self, path: str, timeout: float = 30.0) -> Any:
        """GET `path` and decode the JSON body (raises urllib.error.HTTPError on 4xx/5xx)."""
        with _DIRECT.open(f"{self.url}{path}", timeout=timeout) as response:
            return json.load(response)

    def _env(self) -> dict[str, str]:
        env = {**os.environ, **procfile_environment(), **self._extra_env, "DIGITREC_STORE": self.store}
        env["PORT"] = str(self.port)
        env["WEB_CONCURRENCY"] = str(self.workers)
        env.setdefault("PYTHONUNBUFFERED", "1")
        return env

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                code = self._process.returncode if self._process else None
                raise RuntimeError(f"gunicorn exited with code {code}:\n{self.log()[-4000:]}")
            if self._healthy() and len(self.pids()) >= self.workers:
                return
            time.sleep(0.1)
        raise RuntimeError(f"no answer on /healthz within {STARTUP_TIMEOUT} s:\n{self.log()[-4000:]}")

    def _healthy(self) -> bool:
        try:
            with _DIRECT.open(f"{self.url}/healthz", timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            return False

    def __enter__(self) -> LiveServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()


def _children(pid: int) -> set[int]:
    """Direct child process ids of `pid`, from /proc (Linux)."""
    children: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            children.update(int(each) for each in task.read_text().split())
        except OSError:
            continue
    return children


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signum)
