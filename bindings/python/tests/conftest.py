"""pytest setup: the package from this source tree and, unless
CONTRASTIVE_LIBRARY is set, the library built in lib/ (make)."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PKG = os.path.dirname(HERE)
TOP = os.path.normpath(os.path.join(PKG, "..", ".."))
sys.path.insert(0, PKG)
os.environ.setdefault("CONTRASTIVE_LIBRARY", os.path.join(TOP, "lib", "libcontrastive.so.0"))
