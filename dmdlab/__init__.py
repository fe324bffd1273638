"""dmdlab: Distribution Matching Distillation on Gaussian mixtures, where every score
and every ODE map is known exactly.

Data flows one way: config → mixture/teacher → trainer → metrics → results table → figure.

    >>> import dmdlab
    >>> table = dmdlab.distill(dmdlab.DMDConfig(dim=32), seeds=4)
"""

from dmdlab import metrics
from dmdlab.compile_cache import enable_compilation_cache
from dmdlab.config import DMDConfig
from dmdlab.distill import distill, run_seeds
from dmdlab.dmd import (
    DMDProgram,
    Hyperparams,
    TrainOutput,
    dmd_gradient,
    make_program,
    make_train,
    student_ladder,
)
from dmdlab.evaluate import metrics_table
from dmdlab.linear import LinearStudent, gaussian_denoiser, polar, train_linear_student
from dmdlab.mixture import GaussianMixture
from dmdlab.networks import DenoiserNet, NetSpec, edm_precond
from dmdlab.ode import karras_sigmas, teacher_map, teacher_map_adaptive, teacher_path
from dmdlab.teachers import (
    MemorizingTeacher,
    NetworkTeacher,
    OracleTeacher,
    denoising_loss,
    sample_teacher_sigma,
    train_network_teacher,
)

try:  # the installed distribution's version, so there is one place to bump it
    from importlib.metadata import PackageNotFoundError, version

    __version__ = version("dmdlab")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "DMDConfig",
    "DMDProgram",
    "DenoiserNet",
    "GaussianMixture",
    "Hyperparams",
    "LinearStudent",
    "MemorizingTeacher",
    "NetSpec",
    "NetworkTeacher",
    "OracleTeacher",
    "TrainOutput",
    "__version__",
    "denoising_loss",
    "distill",
    "dmd_gradient",
    "edm_precond",
    "enable_compilation_cache",
    "gaussian_denoiser",
    "karras_sigmas",
    "make_program",
    "make_train",
    "metrics",
    "metrics_table",
    "polar",
    "run_seeds",
    "sample_teacher_sigma",
    "student_ladder",
    "teacher_map",
    "teacher_map_adaptive",
    "teacher_path",
    "train_linear_student",
    "train_network_teacher",
]
