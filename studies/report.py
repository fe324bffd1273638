"""Study 7 — collect every study's report into one document, studies/REPORT.md.

    python studies/report.py --quick     # from studies/out/*-quick (what is committed)
    python studies/report.py             # from the full-mode outputs

Lists the studies through studies/_registry.py (each script declares its claim), reads
each one's report.md, re-links its figures relative to the collected document, and adds a
table of how each was produced. Studies not run yet are listed
with the command that produces them; nothing is written about a study without data.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from _registry import studies

HERE = Path(__file__).resolve().parent


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
    entries = studies()
    for entry in entries:
        name = entry.name
        folder = root / f"{name}{suffix}"
        meta_path = folder / "study.json"
        if not meta_path.exists():
            flag = {"-quick": " --quick"}.get(suffix, "")
            lines.append(f"| {name} | {entry.claim} | not run on the current world yet: "
                         f"`python studies/{name}.py{flag}` | | | | |")  # fmt: skip
            continue
        meta = json.loads(meta_path.read_text())
        lines.append(
            f"| [{name}](#{name}) | {entry.claim} | {meta.get('headline', '')} | "
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
    for entry in entries:
        meta_path = root / f"{entry.name}{suffix}" / "study.json"
        meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
        verdict = meta.get("verdict") or ("no verdict computed" if meta else "not run")
        verdicts.append(f"| {entry.claim} | {verdict} | {meta.get('evidence', '')} | "
                        f"{entry.settle} |")  # fmt: skip
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
