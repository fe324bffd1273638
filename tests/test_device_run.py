"""The GPU campaign's rehearsal: benchmarks/device_run.sh in its tiny mode writes only what
the device tool brings back (≤ 8 files, ≤ 16 MiB each, ≤ 64 MiB, ≤ $OUT/a/b/file, plain
names), and tools/device_pack.py merges what comes back into a cell store the study reports
from, never replacing a cell that is already there."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from device_pack import pack, unpack  # noqa: E402

MiB = 1 << 20


@pytest.fixture(scope="module")
def returned(tmp_path_factory):
    out = tmp_path_factory.mktemp("OUT")
    env = {**os.environ, "OUT": str(out), "DMDLAB_REHEARSAL": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}  # fmt: skip
    res = subprocess.run(["bash", "benchmarks/device_run.sh"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=900)  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    return out


def test_what_the_campaign_writes_fits_the_device_tools_limits(returned):
    files = [p for p in returned.rglob("*") if p.is_file()]
    folders = [p for p in returned.rglob("*") if p.is_dir()]
    assert 1 <= len(files) <= 8 and len(folders) <= 2
    assert all(p.stat().st_size <= 16 * MiB for p in files)
    assert sum(p.stat().st_size for p in files) <= 64 * MiB
    for p in files:
        rel = p.relative_to(returned)
        assert len(rel.parts) <= 3 and all(re.fullmatch(r"[A-Za-z0-9._-]+", x) for x in rel.parts)
    log = (returned / "log.txt").read_text()
    assert "settled rc=0" in log and "left out 0" in log
    assert json.loads((returned / "pack.json").read_text())["files"]


def test_a_returned_pack_merges_into_a_store_the_study_reports_from(returned, tmp_path):
    into = tmp_path / "out"
    counts = unpack(returned, into, log=lambda _: None)
    cells = sorted((into / "cells-smoke").glob("*.parquet"))
    assert counts["cells_new"] == len(cells) >= 2  # two dims × the smoke mode's first window
    assert (into / "settled-smoke-gpu" / "report.md").exists()
    # a second merge keeps what is there
    again = unpack(returned, into, log=lambda _: None)
    assert again["cells_new"] == 0 and again["cells_kept"] == counts["cells_new"]
    res = subprocess.run(
        [sys.executable, "studies/settled.py", "--smoke", "--report-only", "--out",
         str(into / "settled-smoke")], cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    assert "The settled answer" in (into / "settled-smoke" / "report.md").read_text()


def test_a_pack_over_its_limit_lists_what_it_left_out_and_a_damaged_part_is_refused(tmp_path):
    store = tmp_path / "cells-x"
    store.mkdir()
    (store / "a.json").write_text("{}")
    (store / "a.parquet").write_bytes(b"t" * 1000)
    (store / "a.ckpt.npz").write_bytes(os.urandom(3 * MiB))
    out = tmp_path / "OUT"
    out.mkdir()
    m = pack(store, [], out, part_mib=1, max_parts=2)
    assert m["left_out"] == ["cells-x/a.ckpt.npz"] and len(m["parts"]) == 1
    part = out / m["parts"][0]["name"]
    part.write_bytes(part.read_bytes()[:-1] + b"x")
    with pytest.raises(SystemExit, match="do not match"):
        unpack(out, tmp_path / "into", log=lambda _: None)


def test_an_unknown_campaign_is_refused_before_anything_runs(tmp_path):
    env = {**os.environ, "OUT": str(tmp_path), "CAMPAIGN": "sweep"}
    res = subprocess.run(["bash", "benchmarks/device_run.sh"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert res.returncode == 2
    assert res.stderr.strip() == "CAMPAIGN=sweep is invalid: allowed settled, authors"
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    "study, part",
    [("authors", "shells-authors-lr-seeds0-1"), ("settled", "window-40"), ("dimension", "course")],
)
def test_a_study_starts_no_cell_after_its_deadline(tmp_path, study, part):
    """A campaign's budget (every study takes --stop-after): with 0 s the study trains
    nothing, keeps nothing half-made and says where it stopped (exit 1, as the campaign
    expects)."""
    res = subprocess.run(
        [sys.executable, f"studies/{study}.py", "--smoke", "--stop-after", "0", "--out",
         str(tmp_path / study)], cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert res.returncode == 1
    assert f"{study}: deadline reached in part {part!r}" in res.stderr
    store = tmp_path / "cells-smoke"
    assert store.is_dir() and not [p for p in store.glob("*") if p.is_file()]
