"""The public face: a curated API that the README's library tour and the library-tour
notebook stay within, each name documented."""

import re
from pathlib import Path

import dmdlab

ROOT = Path(__file__).resolve().parents[1]


def _used(text: str) -> set[str]:
    return set(re.findall(r"\bdmdlab\.([A-Za-z_]\w*)", text))


def test_the_api_is_small_and_documented():
    assert 15 <= len(dmdlab.__all__) <= 22
    for name in dmdlab.__all__:
        obj = getattr(dmdlab, name)
        assert name == "__version__" or (obj.__doc__ or "").strip(), f"{name} has no docstring"
    assert dmdlab.__version__ != "0+unknown"  # read from the installed package's metadata


def test_tour_and_library_notebook_use_only_the_public_api():
    readme = (ROOT / "README.md").read_text()
    tour = readme[readme.index("## Library tour") :].split("```")[1]
    notebook = (ROOT / "notebooks" / "03_library_tour.py").read_text()
    for where, text in (("README tour", tour), ("notebook 03", notebook)):
        outside = _used(text) - set(dmdlab.__all__)
        assert not outside, f"{where} uses non-public names {sorted(outside)}"
