"""Version, build information and the library's constant table."""
import ctypes

from ._base import check
from ._lib import lib, library_path, PACKAGE_VERSION

__all__ = ["version", "version_number", "build_info", "constant_value", "constant_name",
           "constants_table", "library_path", "__version__", "load_default_max_bytes"]

__version__ = "%d.%d.%d" % PACKAGE_VERSION


def version():
    """The loaded library's version string (ctr_version_string)."""
    return lib.ctr_version_string().decode()


def version_number():
    return int(lib.ctr_version_number())


def build_info():
    """The one-line build description (BLAS, SIMD level, threading)."""
    need = ctypes.c_size_t()
    check(lib.ctr_build_info(None, 0, ctypes.byref(need)))
    buf = ctypes.create_string_buffer(need.value + 1)
    check(lib.ctr_build_info(buf, len(buf), ctypes.byref(need)))
    return buf.value.decode()


def constant_value(name):
    """A header constant by its C name (ctr_constant_value)."""
    v = ctypes.c_int64()
    check(lib.ctr_constant_value(name.encode(), ctypes.byref(v)), "no constant " + name)
    return v.value


def constant_name(group, value):
    """The C name of the constant of `group` ("CTR_E_") with value, or None."""
    s = lib.ctr_constant_name(group.encode(), int(value))
    return s.decode() if s else None


def constants_table():
    """Every constant of the library's table, in header order: [(name, value)]."""
    out, i = [], 0
    name, value = ctypes.c_char_p(), ctypes.c_int64()
    while lib.ctr_constant_at(i, ctypes.byref(name), ctypes.byref(value)) == 0:
        out.append((name.value.decode(), value.value))
        i += 1
    return out


def load_default_max_bytes():
    return int(lib.ctr_load_default_max_bytes())
