"""`make bench`: the production server measured over HTTP on loopback, against a naive baseline.

Run `python -m bench` (about two minutes) or `python -m bench --quick` (a smoke run).
"""
