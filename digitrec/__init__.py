"""digitrec: draw a digit, a numpy FNN and a TensorFlow CNN read it and learn from corrections."""

import os

# One BLAS thread, set before anything loads numpy (the import below does): on a busy 2-core
# machine small matrices run several times faster, and the FNN's training sums in a fixed order,
# so `python -m digitrec train` reproduces its weights bit for bit. (gunicorn.conf.py sets it
# for the web workers too.)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

# libspng (PNG decoding) must be loaded before TensorFlow. TensorFlow's framework library
# exports its own zlib to the whole process; a library loaded after it binds its inflate and
# crc32 calls to that copy, and libspng then decodes a canvas PNG 2.6x slower (0.44 against
# 0.17 ms; LD_DEBUG=bindings shows the binding). Every digitrec module passes through here first.
import pyspng  # noqa: F401
