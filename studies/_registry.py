"""Which studies exist: every `studies/<name>.py` that declares ``ORDER``, ``CLAIM`` and
``SETTLE`` at module level. The report, `make studies` and the smoke tests list studies
here, so adding a study is adding one file.

    python studies/_registry.py      # the study names, in report order, one per line

Declarations are read with ``ast`` (literals only), so listing imports nothing heavy.
"""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

HERE = Path(__file__).resolve().parent
DECLARED = ("ORDER", "CLAIM", "SETTLE")
NOT_STUDIES = {"report"}  # scripts here that collect rather than run


@dataclasses.dataclass(frozen=True)
class StudyEntry:
    """One study: its script ``name``, report position ``order``, the ``claim`` it
    tests and what would ``settle`` it beyond the quick mode (inputs, not results)."""

    name: str
    order: int
    claim: str
    settle: str


def _declarations(path: Path) -> dict:
    found = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name) and target.id in DECLARED:
                found[target.id] = ast.literal_eval(node.value)
    return found


def studies(folder: Path = HERE) -> list[StudyEntry]:
    """Every study script in ``folder``, sorted by ORDER; a script that declares only
    some of ORDER, CLAIM and SETTLE is an error naming what it lacks."""
    entries = []
    for path in sorted(folder.glob("[!_]*.py")):
        if path.stem in NOT_STUDIES:
            continue
        found = _declarations(path)
        missing = [k for k in DECLARED if k not in found]
        if missing:
            raise ValueError(f"{path.name} is not a study: it lacks {', '.join(missing)} "
                             f"(a study declares {', '.join(DECLARED)})")  # fmt: skip
        entries.append(StudyEntry(path.stem, found["ORDER"], found["CLAIM"], found["SETTLE"]))
    orders = [e.order for e in entries]
    if len(set(orders)) != len(orders):
        raise ValueError(f"two studies share an ORDER: {sorted(orders)}")
    return sorted(entries, key=lambda e: e.order)


if __name__ == "__main__":
    print("\n".join(e.name for e in studies()))
