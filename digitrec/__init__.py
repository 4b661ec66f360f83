"""digitrec: draw a digit, a numpy FNN and a TensorFlow CNN read it and learn from corrections."""

import os

# One BLAS thread, set before anything loads numpy (the import below does): small matrices don't
# wait on a thread pool, and the FNN's training sums in a fixed order, so on one machine `python -m
# digitrec train` repeats its weights bit for bit (gunicorn.conf.py sets it for the workers too).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

# libspng before TensorFlow, whose exported zlib would otherwise serve libspng's inflate, slower
# (docs/performance.md). Every digitrec module passes through here first.
import pyspng  # noqa: F401
