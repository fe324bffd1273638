"""Distillation methods behind one interface (:class:`dmdlab.engine.Method`), picked by
the config's ``method`` field.

To add a method: one module here defining a ``Method`` (its ``init``, ``step``,
``student``, ``record``, cost and the loss columns it fills), and one line in
:data:`METHODS`. Its loss columns must be declared in ``dmdlab.columns``.
"""

from __future__ import annotations

from dmdlab.engine import Method
from dmdlab.methods.consistency import CONSISTENCY
from dmdlab.methods.dmd2 import DMD2
from dmdlab.methods.sid import SID

__all__ = ["METHODS", "get_method"]

METHODS: dict[str, Method] = {"dmd2": DMD2, "sid": SID, "consistency": CONSISTENCY}


def get_method(name: str) -> Method:
    """The registered method called ``name``; errors list the allowed names."""
    if name not in METHODS:
        raise ValueError(f"method={name!r} is invalid: allowed {' | '.join(METHODS)}")
    return METHODS[name]
