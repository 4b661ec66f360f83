"""The gunicorn worker class: after taking a connection it leaves the socket to the others."""

import ast
import subprocess
import sys

from gunicorn.workers.gthread import ThreadWorker

from digitrec.config import ROOT
from digitrec.web import worker as worker_module
from digitrec.web.worker import ACCEPT_PAUSE, BalancedThreadWorker


def _worker() -> BalancedThreadWorker:
    instance = object.__new__(BalancedThreadWorker)  # no gunicorn arbiter needed for accept()
    instance.nr_conns = 0
    return instance


def _patch(monkeypatch, accepts: bool) -> list[float]:
    def accept(self, listener) -> None:
        if accepts:  # gthread counts a connection only when accept() got one
            self.nr_conns += 1

    pauses: list[float] = []
    monkeypatch.setattr(ThreadWorker, "accept", accept)
    monkeypatch.setattr(worker_module.time, "sleep", pauses.append)
    return pauses


def test_a_worker_steps_aside_after_taking_a_connection(monkeypatch):
    pauses = _patch(monkeypatch, accepts=True)
    worker = _worker()
    worker.accept(listener=None)
    assert worker.nr_conns == 1
    assert pauses == [ACCEPT_PAUSE]


def test_a_worker_that_lost_the_race_does_not_wait(monkeypatch):
    pauses = _patch(monkeypatch, accepts=False)  # EAGAIN: another worker took the connection
    worker = _worker()
    worker.accept(listener=None)
    assert worker.nr_conns == 0
    assert pauses == []


def test_the_production_config_uses_it():
    # Read, not run: running gunicorn.conf.py would set this process's malloc and imports.
    tree = ast.parse((ROOT / "gunicorn.conf.py").read_text())
    settings = {
        node.targets[0].id: node.value
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
    }
    assert ast.literal_eval(settings["worker_class"]) == "digitrec.web.worker.BalancedThreadWorker"
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
