"""The low-level layer: the shared library loaded with ctypes and every
exported function declared (argtypes/restype) from _signatures.py, which is
generated from the public headers. `lib.ctr_objective_ntxent(...)` is the C
function itself; pointers are passed as integers (numpy's arr.ctypes.data),
ctypes.byref() objects or None (NULL).

Lookup order of the shared library (docs/python.md):
  1. the path in the CONTRASTIVE_LIBRARY environment variable, if set;
  2. libcontrastive.so.0 next to this package (a bundled copy);
  3. lib/libcontrastive.so.0 of the source tree the package sits in
     (bindings/python/contrastive -> ../../../lib), for development;
  4. ctypes.util.find_library("contrastive") (the system's search path).
The library's major and minor version must equal the package's.
"""
import ctypes
import ctypes.util
import os

from ._signatures import SIGNATURES

__all__ = ["lib", "library_path", "PACKAGE_VERSION"]

PACKAGE_VERSION = (0, 1, 0)
_SONAME = "libcontrastive.so.0"

_CODES = {
    "i": ctypes.c_int32, "I": ctypes.c_uint32, "q": ctypes.c_int64,
    "Q": ctypes.c_uint64, "z": ctypes.c_size_t, "d": ctypes.c_double,
    "f": ctypes.c_float, "s": ctypes.c_char_p, "p": ctypes.c_void_p,
    "v": None,
}


class LibraryNotFoundError(ImportError):
    """The shared library could not be found or loaded."""


def _candidates():
    env = os.environ.get("CONTRASTIVE_LIBRARY")
    if env:
        return [("CONTRASTIVE_LIBRARY", env)]
    here = os.path.dirname(os.path.abspath(__file__))
    found = []
    for name in (_SONAME, "libcontrastive.so"):
        found.append(("next to the package", os.path.join(here, name)))
    tree = os.path.normpath(os.path.join(here, "..", "..", "..", "lib", _SONAME))
    found.append(("source tree", tree))
    system = ctypes.util.find_library("contrastive")
    if system:
        found.append(("system (find_library)", system))
    return found


def _load():
    tried = []
    for where, path in _candidates():
        if where != "system (find_library)" and where != "CONTRASTIVE_LIBRARY" \
                and not os.path.exists(path):
            tried.append("%s: %s (absent)" % (where, path))
            continue
        try:
            return ctypes.CDLL(path), path
        except OSError as e:
            tried.append("%s: %s (%s)" % (where, path, e))
            if where == "CONTRASTIVE_LIBRARY":
                break
    raise LibraryNotFoundError(
        "libcontrastive not found; tried:\n  " + "\n  ".join(tried) +
        "\nbuild it (make) and set CONTRASTIVE_LIBRARY=/path/to/libcontrastive.so.0, "
        "or install it (make install)")


def _declare(cdll):
    missing = []
    for name, (ret, args) in SIGNATURES.items():
        try:
            fn = getattr(cdll, name)
        except AttributeError:
            missing.append(name)
            continue
        fn.restype = _CODES[ret]
        fn.argtypes = [_CODES[c] for c in args]
    if missing:
        raise LibraryNotFoundError(
            "the loaded libcontrastive lacks %d function(s) of this package "
            "(an older library?): %s" % (len(missing), ", ".join(sorted(missing)[:8])))


def _check_version(cdll, path):
    n = cdll.ctr_version_number()
    major, minor = n // 10000, (n // 100) % 100
    if (major, minor) != PACKAGE_VERSION[:2]:
        raise LibraryNotFoundError(
            "libcontrastive at %s is version %s; this package needs %d.%d.x"
            % (path, cdll.ctr_version_string().decode(), *PACKAGE_VERSION[:2]))


lib, library_path = _load()
_declare(lib)
_check_version(lib, library_path)
