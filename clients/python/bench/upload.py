"""Registers FILE as a new version of MODEL with the Python client and
prints the seconds it took (hash + parallel parts + complete)."""

import sys
import time

import modelreg

url, token, model, path = sys.argv[1:5]
c = modelreg.Client(url, token)
start = time.monotonic()
v = c.register(model, artifacts=[path], no_git=True)
secs = time.monotonic() - start
assert v.status == "READY", v
print(f"{secs:.3f}")
