"""The gunicorn worker class: gthread, with new connections spread evenly over the workers.

All workers accept from one shared listening socket. Clients keep their connection
(keep-alive), so whichever worker accepts it serves all of its requests; when a few
clients connect at once, plain gthread lets the first worker to wake accept them all
and leaves the other cores idle. Here a worker pauses briefly after each accept, so
the next waiting connection goes to another worker.
"""

from __future__ import annotations

import time

from gunicorn.workers.gthread import ThreadWorker

ACCEPT_PAUSE = 0.002  # seconds a worker leaves the listening socket to the others after an accept


class BalancedThreadWorker(ThreadWorker):
    """gunicorn's gthread worker that hands the next new connection to another worker."""

    def accept(self, listener) -> None:
        connections = self.nr_conns
        super().accept(listener)
        if self.nr_conns > connections:
            time.sleep(ACCEPT_PAUSE)
