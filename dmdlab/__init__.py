"""dmdlab: Distribution Matching Distillation on Gaussian mixtures, where every score
and every ODE map is known exactly.

Data flows one way: config → mixture/teacher → trainer → metrics → results table → figure.

    >>> import dmdlab
    >>> table = dmdlab.distill(dmdlab.DMDConfig(dim=32), seeds=4)

The names below are the public API (the README's library tour and the notebooks use
only these and the ``metrics``, ``analysis`` and ``plotting`` modules). Everything else
is reachable through its module (e.g. ``dmdlab.engine.make_program`` for the engine's
pieces, ``dmdlab.linear`` for the linear-Gaussian case) and may change between versions.
"""

from dmdlab import analysis, metrics
from dmdlab._version import __version__
from dmdlab.compile_cache import enable_compilation_cache
from dmdlab.config import DMDConfig
from dmdlab.distill import distill, run_seeds
from dmdlab.engine import TrainOutput, make_train
from dmdlab.evaluate import metrics_table
from dmdlab.method import Hyperparams, student_ladder
from dmdlab.mixture import GaussianMixture
from dmdlab.ode import teacher_map, teacher_path
from dmdlab.setup import seed_mixture
from dmdlab.store import load_results
from dmdlab.sweep import SweepSpec, run_sweep
from dmdlab.teachers import MemorizingTeacher, NetworkTeacher, OracleTeacher

__all__ = [
    "DMDConfig",
    "GaussianMixture",
    "Hyperparams",
    "MemorizingTeacher",
    "NetworkTeacher",
    "OracleTeacher",
    "SweepSpec",
    "TrainOutput",
    "__version__",
    "analysis",
    "distill",
    "enable_compilation_cache",
    "load_results",
    "make_train",
    "metrics",
    "metrics_table",
    "run_seeds",
    "run_sweep",
    "seed_mixture",
    "student_ladder",
    "teacher_map",
    "teacher_path",
]
