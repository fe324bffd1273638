"""The geometry studies (freedom, scaling, phase diagram) in --smoke mode; see
test_studies.py for the checks, shared here."""

import pytest

from tests.test_studies import check_smoke_run


@pytest.mark.parametrize("name", ["freedom", "scaling", "phase_diagram"])
def test_study_smoke(name, tmp_path_factory):
    check_smoke_run(name, tmp_path_factory.mktemp("studies"))
