"""The studies after the first three in report order (today freedom, scaling, phase
diagram, and any study added later) in --smoke mode; see test_studies.py for the checks,
shared here."""

import pytest

from tests.test_studies import LATER, check_smoke_run


@pytest.mark.parametrize("name", LATER)
def test_study_smoke(name, tmp_path_factory):
    check_smoke_run(name, tmp_path_factory.mktemp("studies"))
