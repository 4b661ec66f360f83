"""digitrec: draw a digit, a numpy FNN and a TensorFlow CNN read it and learn from corrections."""

# libspng (PNG decoding) must be loaded before TensorFlow. TensorFlow's framework library
# exports its own zlib to the whole process; a library loaded after it binds its inflate and
# crc32 calls to that copy, and libspng then decodes a canvas PNG 2.6x slower (0.44 against
# 0.17 ms; LD_DEBUG=bindings shows the binding). Every digitrec module passes through here first.
import pyspng  # noqa: F401
