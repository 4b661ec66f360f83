"""gunicorn settings shared by the Procfile (Heroku) and `make run` (local).

gunicorn manages the processes; each worker is uvicorn's event loop, which reads every request
whole before the Flask app runs on it: predictions on the loop's thread, others on one of the
worker's `threads` (digitrec/web/serving.py,
docs/serving.md). The arbiter imports the worker class, and with it digitrec's and TensorFlow's
Python modules, but starts no thread and loads no model. Each worker then starts TensorFlow's
runtime (its thread pools do not survive a fork) and loads the models itself (no preload). The
forked workers share the imported modules' memory. glibc's malloc settings are in the Procfile's
command, not here: malloc reads them when a process starts, before any of this runs.
"""

import os
import sys

from digitrec.capacity import memory_limit_bytes, worker_count

# Serving never plots: keep Keras from importing matplotlib (memory and start-up time) in every worker.
sys.modules.setdefault("matplotlib", None)

# Workers inherit these before they import numpy: single-threaded BLAS, because multi-threaded
# BLAS on tiny matrices spin-waits for cores that other workers and requests are using.
for _pool in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_pool, "1")

_port = os.environ.get("PORT", "5000")
# Heroku's router reaches the dyno from outside; locally serve loopback only.
bind = f"0.0.0.0:{_port}" if os.environ.get("DYNO") else f"127.0.0.1:{_port}"
workers = worker_count(os.environ, memory_limit_bytes())  # the user's WEB_CONCURRENCY, else what fits
worker_class = "digitrec.web.serving.RequestBufferingWorker"
threads = 4  # requests besides predictions running the app at once per worker; the rest wait, read
preload_app = False
# No run-time control socket: nothing manages workers that way, and every server on a machine
# would share the one default path ($HOME/.gunicorn/gunicorn.ctl), as the tests' servers do.
control_socket_disable = True
timeout = 60  # a worker whose event loop stops answering this long is restarted
graceful_timeout = 20
# Seconds an idle connection stays open between requests: longer than the 90 s after which Heroku's
# router closes an idle connection to the dyno, so that the router, not the server, closes it and
# a request never meets a connection the server is closing.
keepalive = 95
max_requests = 0  # memory stays flat (the soak test checks); no periodic restarts needed
accesslog = "-"  # written by digitrec/web/serving.py: client "METHOD path" status bytes duration
errorlog = "-"
loglevel = "info"
