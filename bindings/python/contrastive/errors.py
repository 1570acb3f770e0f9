"""Status codes as exceptions: one class per CTR_E_* code, all derived from
ContrastiveError (which carries .code and the message of the handle that
failed). Each also derives from the closest built-in exception, so
`except ValueError` catches a bad argument or a shape mismatch."""
from ._lib import lib
from .constants import Status

__all__ = [
    "ContrastiveError", "InvalidArgumentError", "OutOfMemoryError",
    "SizeOverflowError", "NumericError", "ContrastiveIOError", "CorruptError",
    "IncompatibleError", "StageError", "UnsupportedError", "ShapeError",
    "BufferTooSmallError", "LimitError", "CommError", "error_for", "strerror",
]


class ContrastiveError(Exception):
    """Base class: a libcontrastive call returned a negative status code.
    .code is the CTR_E_* value (a Status), .message the handle's message
    (ctr_<object>_last_error) or the code's description."""
    code = None

    def __init__(self, message, code=None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = Status(code)


class InvalidArgumentError(ContrastiveError, ValueError):
    code = Status.INVALID_ARG


class OutOfMemoryError(ContrastiveError, MemoryError):
    code = Status.NOMEM


class SizeOverflowError(ContrastiveError, OverflowError):
    code = Status.OVERFLOW


class NumericError(ContrastiveError, ArithmeticError):
    code = Status.NUMERIC


class ContrastiveIOError(ContrastiveError, OSError):
    code = Status.IO


class CorruptError(ContrastiveError, ValueError):
    code = Status.CORRUPT


class IncompatibleError(ContrastiveError, ValueError):
    code = Status.INCOMPATIBLE


class StageError(ContrastiveError, RuntimeError):
    code = Status.STAGE


class UnsupportedError(ContrastiveError, NotImplementedError):
    code = Status.UNSUPPORTED


class ShapeError(ContrastiveError, ValueError):
    code = Status.SHAPE


class BufferTooSmallError(ContrastiveError, ValueError):
    code = Status.BUFFER_TOO_SMALL


class LimitError(ContrastiveError, MemoryError):
    code = Status.LIMIT


class CommError(ContrastiveError, RuntimeError):
    code = Status.COMM


_BY_CODE = {cls.code: cls for cls in (
    InvalidArgumentError, OutOfMemoryError, SizeOverflowError, NumericError,
    ContrastiveIOError, CorruptError, IncompatibleError, StageError,
    UnsupportedError, ShapeError, BufferTooSmallError, LimitError, CommError)}


def strerror(code):
    """ctr_strerror: the static English description of a status code."""
    return lib.ctr_strerror(int(code)).decode()


def error_for(code, message=None):
    """The exception for status `code` with `message` (default: strerror)."""
    if not message:
        message = strerror(code)
    cls = _BY_CODE.get(code)
    if cls is None:
        return ContrastiveError("%s (status %d)" % (message, code))
    return cls("%s [%s]" % (message, cls.code.name), code)
