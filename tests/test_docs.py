"""The documentation as a newcomer meets it: the README is a front door (short, every page
linked), every relative link resolves (file and heading), nothing points outside the
repository, and the generated blocks are what `studies/report.py --quick` writes."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")),
         ROOT / "benchmarks" / "RESULTS.md", ROOT / "benchmarks" / "README.md"]  # fmt: skip
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _anchor(heading: str) -> str:
    """GitHub's anchor of a markdown heading."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = path.read_text()
    found = {_anchor(m.group(1)) for m in re.finditer(r"^#+ (.+)$", text, flags=re.M)}
    return found | set(re.findall(r'<a id="([^"]+)"', text))


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page):
    for target in LINK.findall(page.read_text()):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        file, _, anchor = target.partition("#")
        path = (page.parent / file).resolve() if file else page
        assert path.exists(), f"{page.name}: link to {target} does not resolve"
        assert ROOT in path.parents or path == ROOT, f"{page.name}: {target} leaves the repo"
        if anchor and path.suffix == ".md":
            assert anchor in _anchors(path), f"{page.name}: no heading #{anchor} in {file}"


def test_the_readme_is_a_front_door():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 200
    assert "make sweep" in text and "make test" in text
    for page in (ROOT / "docs").glob("*.md"):  # every docs page reachable from it
        assert f"docs/{page.name}" in text, page.name


def test_nothing_cites_a_file_outside_the_repository():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True)
    files = [ROOT / f for f in tracked.stdout.split() if f.endswith((".py", ".md", ".ipynb"))]
    for path in files:
        if not path.exists() or path == Path(__file__).resolve():  # this test names them
            continue
        text = path.read_text()
        assert "../shared" not in text, path
        bare = re.findall(r"(?<![\w/])SCIENCE\.md", text)
        assert not bare, f"{path.relative_to(ROOT)} cites SCIENCE.md (use docs/science.md)"


def _block(path: Path, name: str) -> str:
    text = path.read_text()
    return text.split(f"<!-- {name} -->\n", 1)[1].split(f"\n<!-- /{name} -->", 1)[0]


def test_generated_blocks_are_what_the_report_writes():
    """studies/report.py --quick rebuilds REPORT.md and the README's and results page's
    blocks from committed files: computed here (without writing), they are what is
    committed."""
    sys.path.insert(0, str(ROOT / "studies"))
    import report

    out = ROOT / "studies" / "out"
    target = ROOT / "studies" / "REPORT.md"
    stale = "is stale: run python studies/report.py --quick"
    assert report.collect(out, "-quick", target) == target.read_text(), f"REPORT.md {stale}"
    readme, results = ROOT / "README.md", ROOT / "docs" / "results.md"
    assert _block(readme, "settled") == "\n".join(report.settled_answer(out, "-quick")), stale
    assert _block(readme, "answer") == "\n".join(report.answer_table(out, "-quick")), stale
    assert _block(readme, "recipe") == "\n".join(report.recipe_table(out, "-quick")), stale
    assert _block(results, "sweep") == report._sweep_block(), f"results.md {stale}"
    assert _block(results, "studies") == report._studies_block(out, "-quick"), stale
