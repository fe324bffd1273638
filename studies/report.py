"""Study 7 — collect every study's report into one document, studies/REPORT.md.

    python studies/report.py --quick     # from studies/out/*-quick (what is committed)
    python studies/report.py             # from the full-mode outputs

Reads each study's report.md, re-links its figures relative to the collected
document, and adds a table of how each was produced. Studies not run yet are listed
with the command that produces them; nothing is written about a study without data.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = ["dimension", "adversarial", "memorization", "freedom", "scaling", "phase_diagram"]
CLAIMS = {
    "dimension": "students remap noise in low d and copy the teacher in high d",
    "adversarial": "copying is not caused by the GAN term",
    "memorization": "copying is not caused by teacher memorization",
    "freedom": "limited geometric freedom sets the transition",
    "scaling": "κ depends on √d / σ_max",
    "phase_diagram": "where the transition lies over d × K and d × m",
}

# What each claim needs beyond the quick mode (inputs and budgets, not results).
SETTLE = {
    "dimension": "students passing the gates at d ≥ 64 (the calibrated budgets reach d = 32 on "
    "2 CPU cores; d = 128 still fails at 2000 generator steps), and κ compared at matched "
    "training progress; the full mode (`python studies/dimension.py`: 256-wide nets, 8000 "
    "teacher and 2000 generator steps, d ≤ 1024 × 8 seeds) on the GPU machine",
    "adversarial": "the same comparison at passing d ≥ 8: calibrated budgets per d, 8 seeds",
    "memorization": "oracle and memorizing arms at passing d ≥ 8 with ≥ 8 seeds",
    "freedom": "a remap → copy transition in the base first (see the dimension claim); then "
    "the variants at calibrated budgets",
    "scaling": "three or more passing dims per σ_max: calibrated generator steps per d",
    "phase_diagram": "passing cells at d ≥ 16 for every K and m: calibrated budgets per d",
}


def collect(root: Path, suffix: str, target: Path) -> str:
    """The collected markdown for the study directories <root>/<name><suffix>."""
    lines = [
        "# dmdlab studies: what the numbers say",
        "",
        "Each section below is one study's own report, generated from its results by the "
        "command it names; sentences in them are computed from the numbers. Read every "
        "conclusion with its interval, and with the fidelity columns: copying numbers from a "
        "student that does not match the data are not evidence either way.",
        "",
        "| study | claim tested | in short (computed) | grid points failing the fidelity "
        "check | command | compute (s) | machine |",
        "|---|---|---|---|---|---|---|",
    ]
    sections = []
    for name in ORDER:
        folder = root / f"{name}{suffix}"
        meta_path = folder / "study.json"
        if not meta_path.exists():
            flag = {"-quick": " --quick"}.get(suffix, "")
            lines.append(f"| {name} | {CLAIMS[name]} | not run on the current world yet: "
                         f"`python studies/{name}.py{flag}` | | | | |")  # fmt: skip
            continue
        meta = json.loads(meta_path.read_text())
        lines.append(
            f"| [{name}](#{name}) | {CLAIMS[name]} | {meta.get('headline', '')} | "
            f"{meta.get('low_fidelity_points', '?')} of {meta.get('grid_points', '?')} | "
            f"`{meta['command']}` | "
            f"{meta['cell_wall_s']:.0f} | {meta['machine']} |"
        )
        link = folder.relative_to(target.parent).as_posix()
        text = (folder / "report.md").read_text()
        text = re.sub(r"\]\(([^)/]+\.png)\)", "](" + link + r"/\1)", text)
        text = re.sub(r"^# ", f'<a id="{name}"></a>\n\n## ', text, count=1, flags=re.M)
        sections.append(text)
    verdicts = ["## Verdicts", "",
                "Computed by each study from the grid points that pass the fidelity gates "
                "(rules: `dmdlab.analysis.dimension_verdict` for the dimension claim, each "
                "study's `_verdict` for the others).", "",
                "| claim | verdict | evidence | what would settle it |",
                "|---|---|---|---|"]  # fmt: skip
    for name in ORDER:
        meta_path = root / f"{name}{suffix}" / "study.json"
        meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
        verdict = meta.get("verdict") or ("no verdict computed" if meta else "not run")
        verdicts.append(f"| {CLAIMS[name]} | {verdict} | {meta.get('evidence', '')} | "
                        f"{SETTLE[name]} |")  # fmt: skip
    return "\n".join([*lines, "", *verdicts]) + "\n\n" + "\n\n".join(sections)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="collect the --quick outputs")
    parser.add_argument("--root", type=Path, help="folder holding the study outputs")
    parser.add_argument("--output", type=Path, help="where to write (default studies/REPORT.md)")
    args = parser.parse_args(argv)
    if args.root is not None:  # an explicit folder holds <name>/ (any mode)
        root, suffix = args.root, ""
    else:
        root, suffix = HERE / "out", "-quick" if args.quick else ""
    target = args.output or HERE / "REPORT.md"
    target.write_text(collect(root.resolve(), suffix, target.resolve()))
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
