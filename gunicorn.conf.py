"""gunicorn settings shared by the Procfile (Heroku) and `make run` (local).

The arbiter imports the worker class, and with it digitrec's and TensorFlow's
Python modules, but starts no thread and loads no model. Each worker then starts
TensorFlow's runtime (its thread pools do not survive a fork) and loads the models
itself (no preload), and serves with a few threads: predictions never wait on
learning, and a correction being learned does not block the worker. The forked
workers share the imported modules' memory: with 2 workers the whole server's
proportional set size was 736 MB after 20 predictions, 881 MB when the arbiter
imported nothing (the worker class moved out of digitrec.web to measure it).
"""

import ctypes
import os
import sys

from digitrec.capacity import memory_limit_bytes, worker_count

# Serving never plots: keep Keras from importing matplotlib in every worker (~27 MB, ~0.4 s each).
sys.modules.setdefault("matplotlib", None)

# Memory is reused, not handed back and faulted in again. With glibc's mmap threshold fixed at
# 1 MB every array over it (weights, activations, gradients) was a fresh mapping: ~11,000 page
# faults and ~20 ms of CPU per correction. Up to 4 MB now comes from the heap (a correction's
# arrays; only the ~10 MB serialised weights are mapped), and the heap is trimmed only past
# 64 MB free at its top. A 32 MB threshold made a correction slower again in-process (median
# 52-58 ms against 45-47 ms over 20 corrections, quiet machine). Both are set: fixing the first
# stops glibc adjusting the second, which would stay at 128 KB (each prediction's 300 KB arrays
# faulted in again). At most 8 malloc arenas (glibc's default here is 16): each connection has its
# own thread (see digitrec/web/worker.py), and each thread may take an arena to fill and keep. In the
# soak test (8 clients, a new connection per request) each worker grew 44-99 MB in a minute to
# 637-657 MB with 16 arenas, 59-67 MB to 582-601 MB with 8. 4 arenas grew least (36-43 MB) but made
# threads share: TensorFlow's compute thread then waited on malloc's locks 7.5 times per prediction
# instead of once, and one client's p50 went from 3.18-3.27 to 3.55 ms. Workers inherit the settings.
_libc = ctypes.CDLL(None)
if hasattr(_libc, "mallopt"):  # glibc
    _libc.mallopt(-3, 4 << 20)  # M_MMAP_THRESHOLD, bytes
    _libc.mallopt(-1, 64 << 20)  # M_TRIM_THRESHOLD, bytes
    _libc.mallopt(-8, 8)  # M_ARENA_MAX, arenas

# Workers inherit these before they import numpy: single-threaded BLAS, because multi-threaded
# BLAS on tiny matrices spin-waits for cores that other workers and requests are using.
for _pool in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_pool, "1")

_port = os.environ.get("PORT", "5000")
# Heroku's router reaches the dyno from outside; locally serve loopback only.
bind = f"0.0.0.0:{_port}" if os.environ.get("DYNO") else f"127.0.0.1:{_port}"
workers = worker_count(os.environ, memory_limit_bytes())  # the user's WEB_CONCURRENCY, else what fits
# gthread's request handling with a thread per connection (see digitrec/web/worker.py): the
# kernel wakes the thread that serves a keep-alive connection, not a selector that hands it over.
# A worker steps aside for 2 ms after each accept: on one shared socket the first worker to wake
# took every keep-alive connection of a few clients arriving at once (one core of two busy), and
# per-worker SO_REUSEPORT sockets hash connections, 4 of 4 to one worker 1 time in 8.
worker_class = "digitrec.web.worker.ConnectionThreadWorker"
threads = 4  # requests handled at once per worker (a connection waiting for its next request holds none)
preload_app = False
# No run-time control socket: nothing manages workers that way, and every server on a machine
# would share the one default path ($HOME/.gunicorn/gunicorn.ctl), as the tests' servers do.
control_socket_disable = True
timeout = 60  # a worker busy this long (e.g. stuck on the store) is restarted
graceful_timeout = 20
keepalive = 5
max_requests = 0  # memory stays flat (the soak test checks); no periodic restarts needed
accesslog = "-"
errorlog = "-"
loglevel = "info"
# Don't log query strings (sample cursors, nothing secret, but keep logs lean) or bodies.
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms'
