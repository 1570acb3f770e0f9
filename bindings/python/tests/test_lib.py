"""The low-level layer: declarations from the headers, constants, version,
library lookup."""
import os
import subprocess
import sys

import pytest

import contrastive as ctr
from conftest import PKG, TOP


def run_tool(name, *args):
    return subprocess.run([sys.executable, os.path.join(PKG, "tools", name), *args],
                          capture_output=True, text=True, cwd=TOP)


def test_every_exported_symbol_is_declared():
    r = run_tool("gen_signatures.py", "--check")
    assert r.returncode == 0, r.stderr


def test_constants_match_the_headers():
    r = run_tool("gen_constants.py", "--check")
    assert r.returncode == 0, r.stderr


def test_constants_equal_the_library_table():
    table = dict(ctr.constants_table())
    assert table == ctr.CONSTANTS
    assert ctr.ObjectiveParam.TEMPERATURE == table["CTR_OBJECTIVE_P_TEMPERATURE"]
    assert ctr.Status.SHAPE == ctr.constant_value("CTR_E_SHAPE") == -10
    assert ctr.constant_name("CTR_E_", -4) == "CTR_E_NUMERIC"
    with pytest.raises(ctr.InvalidArgumentError):
        ctr.constant_value("CTR_NO_SUCH_THING")


def test_every_declared_function_resolves():
    from contrastive._signatures import SIGNATURES
    for name in SIGNATURES:
        assert getattr(ctr.lib, name).argtypes is not None or SIGNATURES[name][1] == ""


def test_version_and_build_info():
    assert ctr.version() == ctr.__version__
    assert ctr.version_number() == ctr.VERSION_NUMBER
    info = ctr.build_info()
    assert info.startswith("libcontrastive " + ctr.version()) and "blas=" in info
    assert ctr.load_default_max_bytes() == ctr.LOAD_DEFAULT_MAX_BYTES
    assert os.path.samefile(ctr.library_path, os.environ["CONTRASTIVE_LIBRARY"])


def test_strerror_and_exception_classes():
    assert "shape" in ctr.strerror(ctr.Status.SHAPE).lower()
    for code in ctr.Status:
        if code == ctr.Status.OK:
            continue
        e = ctr.error_for(code, "m")
        assert isinstance(e, ctr.ContrastiveError) and e.code == code
    assert issubclass(ctr.ShapeError, ValueError)
    assert issubclass(ctr.NumericError, ArithmeticError)
    assert issubclass(ctr.ContrastiveIOError, OSError)
    assert issubclass(ctr.OutOfMemoryError, MemoryError)


def _import_with(env_value):
    env = dict(os.environ, CONTRASTIVE_LIBRARY=env_value, PYTHONPATH=PKG)
    return subprocess.run([sys.executable, "-c", "import contrastive"], env=env,
                          capture_output=True, text=True)


def test_bad_library_path_is_a_clear_import_error():
    r = _import_with("/nonexistent/libcontrastive.so.0")
    assert r.returncode != 0
    assert "LibraryNotFoundError" in r.stderr and "CONTRASTIVE_LIBRARY" in r.stderr


def test_library_that_is_not_libcontrastive_is_refused():
    import ctypes.util
    libm = ctypes.util.find_library("m")
    r = _import_with(libm)
    assert r.returncode != 0 and "lacks" in r.stderr


def test_source_tree_lookup_without_the_variable():
    env = {k: v for k, v in os.environ.items() if k != "CONTRASTIVE_LIBRARY"}
    env["PYTHONPATH"] = PKG
    r = subprocess.run([sys.executable, "-c",
                        "import contrastive, os; print(contrastive.library_path)"],
                       env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert os.path.samefile(r.stdout.strip(), os.path.join(TOP, "lib", "libcontrastive.so.0"))


def test_version_mismatch_is_refused():
    from contrastive import _lib

    class Fake:
        @staticmethod
        def ctr_version_number():
            return 10203           # 1.2.3

        @staticmethod
        def ctr_version_string():
            return b"1.2.3"
    with pytest.raises(ctr.LibraryNotFoundError,
                       match="version 1.2.3; this package needs 0.1"):
        _lib._check_version(Fake, "/fake/libcontrastive.so.0")
