"""libcontrastive for Python: the C library's objects as classes over
ctypes, numpy float32 arrays passed without copies.

    import numpy as np, contrastive as ctr
    with ctr.Objective(ctr.ObjectiveKind.NTXENT, temperature=0.5) as obj:
        loss, g1, g2 = obj.ntxent(z1, z2)

docs/python.md is the guide; `contrastive.lib` is the low-level layer
(every exported C function, declared from the headers)."""
from ._lib import lib, library_path, LibraryNotFoundError
from .constants import *  # noqa: F401,F403  (the IntEnums)
from .constants import BY_NAME as CONSTANTS
from .errors import *  # noqa: F401,F403
from .info import (version, version_number, build_info, constant_value, constant_name,
                   constants_table, load_default_max_bytes, __version__)
from .rng import Rng
from .encoder import Encoder
from .optimizer import Optimizer, cosine_lr
from .objective import Objective, CpcArgs, LocalGlobalArgs
from .memories import Queue, Bank
from .evaluation import Knn, Probe, Ridge, alignment, uniformity
from .state import State
from .comm import Comm, CommOps
