"""The studies after the first three in report order (today adversarial, memorization,
freedom, scaling, phase diagram, settled, authors, and any study added later) in --smoke
mode; see test_studies.py for the checks, shared here. They write under one parent, so
they share one cell store and one teacher store (as the real studies do): a cell or a
teacher that two studies need is trained once."""

import pytest

from tests.test_studies import LATER, check_smoke_run


@pytest.fixture(scope="module")
def study_root(tmp_path_factory):
    return tmp_path_factory.mktemp("studies")


@pytest.mark.parametrize("name", LATER)
def test_study_smoke(name, study_root):
    check_smoke_run(name, study_root)
