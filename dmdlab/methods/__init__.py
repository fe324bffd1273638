"""Distillation methods behind one interface (:class:`dmdlab.method.Method`), picked by
the config's ``method`` field.

To add a method: one module here defining a ``Method`` (its ``init``, ``step``,
``student``, ``record``, cost, the loss columns it fills and the rules it puts on the
config, ``check``), and one line in :data:`METHODS`. Its loss columns must be declared in
``dmdlab.columns``. A config is checked against its method (:func:`check`) wherever a run
is built (``dmdlab.engine.make_program``, ``dmdlab.sweep.SweepSpec``), before compute.
"""

from __future__ import annotations

import types

from dmdlab.config import DMDConfig
from dmdlab.method import Method
from dmdlab.methods.consistency import CONSISTENCY
from dmdlab.methods.dmd2 import DMD2
from dmdlab.methods.sid import SID

__all__ = ["METHODS", "check", "get_method"]

METHODS: types.MappingProxyType[str, Method] = types.MappingProxyType(
    {"dmd2": DMD2, "sid": SID, "consistency": CONSISTENCY}
)


def get_method(name: str) -> Method:
    """The registered method called ``name``; errors list the allowed names."""
    if name not in METHODS:
        raise ValueError(f"method={name!r} is invalid: allowed {' | '.join(map(repr, METHODS))}")
    return METHODS[name]


def check(config: DMDConfig) -> DMDConfig:
    """``config`` if its method exists and accepts it (the method's own rules), else a
    ValueError in the config's one-line form ("invalid DMDConfig: field=value is invalid:
    allowed …; …")."""
    if config.method not in METHODS:
        errors = [f"method={config.method!r} is invalid: allowed "
                  f"{' | '.join(map(repr, METHODS))}"]  # fmt: skip
    else:
        errors = METHODS[config.method].check(config)
    if errors:
        raise ValueError("invalid DMDConfig: " + "; ".join(errors))
    return config
