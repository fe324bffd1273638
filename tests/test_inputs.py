"""Odd input, replayed: each case a new user hit ends in a one-line error (exit 2) before
any compute, or does the right thing (docs/science.md-independent: plumbing)."""

import json
import shutil

import jax.numpy as jnp
import numpy as np
import pytest

from dmdlab import GaussianMixture
from dmdlab.cli import main
from dmdlab.metrics import (
    coverage,
    denoiser_error,
    kept_fractions,
    mode_agreement,
    within_mode_centred,
    within_mode_copying,
)
from dmdlab.sweep import SweepSpec


def _one_line_exit_2(argv, capsys, needle: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1 and "Traceback" not in err, err


@pytest.mark.parametrize(
    "preset, sets, needle",
    [
        ("tiny", ["dim=1"], "dim=1 is invalid"),
        ("tiny", ["n_modes=1"], "κ is undefined for one mode"),
        ("default", ["dim=100000"], "GiB per device"),  # 3.4 GB after 240 s, before
        ("tiny", ["width=1000000"], "GiB per device"),
    ],
)
def test_configs_that_cannot_run_are_refused_up_front(tmp_path, capsys, preset, sets, needle):
    argv = ["sweep", "--preset", preset, *[a for s in sets for a in ("--set", s)]]
    _one_line_exit_2([*argv, "--out", str(tmp_path / "x")], capsys, needle)
    assert not (tmp_path / "x").exists() or not any((tmp_path / "x").iterdir())


def test_absurd_seed_counts_and_process_ids_are_one_line(tmp_path, capsys):
    out = ["--out", str(tmp_path / "x")]
    with pytest.raises(SystemExit) as exit_info:  # argparse's own one-line usage error
        main(["run", "--preset", "tiny", "--seeds", "1000000000", *out])
    assert exit_info.value.code == 2
    assert "an integer in [1, 10000]" in capsys.readouterr().err
    bad_id = ["--distributed", "--num-processes", "2", "--process-id", "5"]
    _one_line_exit_2(["sweep", "--preset", "tiny", *bad_id, *out], capsys,
                     "--process-id must be in [0, ")  # fmt: skip
    _one_line_exit_2(["sweep", "--preset", "tiny", "--distributed", *out], capsys,
                     "--distributed could not start")  # fmt: skip
    if shutil.which("sbatch") is None:
        _one_line_exit_2(["sweep", "--preset", "tiny", "--executor", "slurm", *out], capsys,
                         "--executor slurm needs Slurm")  # fmt: skip


def test_a_cache_directory_under_a_file_is_one_line(tmp_path, capsys, monkeypatch):
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("DMDLAB_CACHE_DIR", str(tmp_path / "file" / "xla"))
    _one_line_exit_2(["sweep", "--preset", "tiny", "--out", str(tmp_path / "x")], capsys,
                     "DMDLAB_CACHE_DIR cannot hold")  # fmt: skip


def test_zip_follows_the_users_grid_field_not_the_presets():
    cells = SweepSpec.build("tiny", [], ["n_modes=2,3"], 2, ["steps=40,60"]).cells()
    assert {(c.n_modes, c.steps) for c in cells} == {(2, 40), (3, 60)}
    assert {c.dim for c in cells} == {2, 4}  # the preset's dims still swept
    with pytest.raises(ValueError, match=r"the preset ties \['teacher_steps'\] to dim"):
        SweepSpec.build("default", [], ["n_modes=2,3"], 2, ["steps=400,600"])
    with pytest.raises(ValueError, match="needs a --grid field"):
        SweepSpec.build("tiny", [], [], 2, ["steps=40,60"])


def test_metrics_of_nan_samples_are_nan_not_plausible(key):
    mix = GaussianMixture.random(key, 4, 3)
    t = mix.sample(key, 64)
    bad = t.at[5, 0].set(jnp.nan)
    assert np.isnan(mode_agreement(mix, bad, t)).all()
    assert np.isnan(coverage(mix, bad)).all() and np.isnan(kept_fractions(mix, bad, t)).all()
    assert np.isnan(within_mode_copying(mix, bad, t)) and np.isnan(within_mode_centred(mix, bad, t))
    with pytest.raises(ValueError, match="means and weights must be finite"):
        GaussianMixture(mix.weights, mix.means.at[0, 0].set(jnp.nan), mix.stds)
    with pytest.raises(ValueError, match="sigmas must be > 0"):
        denoiser_error(mix.denoise, mix, key, [-1.0, 0.5])


def test_plot_finds_the_pairs_of_a_moved_sweep_and_titles_name_swept_fields(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["sweep", "--preset", "tiny", "--grid", "dim=2", "--grid", "teacher=network,oracle"]
    assert main([*argv, "--seeds", "2", "--no-plot", "--out", str(out)]) == 0
    assert not (out / "pairings.png").exists()
    moved = tmp_path / "moved"
    shutil.move(out, moved)
    manifest = json.loads((moved / "manifest.json").read_text())
    assert manifest["cell_store"] == "cells"  # relative: the directory carries its cells
    capsys.readouterr()
    assert main(["plot", str(moved)]) == 0
    assert (moved / "pairings.png").exists()
    from dmdlab.plotting import _title
    from dmdlab.store import load_results

    title = _title(load_results(moved), "κ")
    assert "teacher swept" in title and "teacher=network" not in title
    # `dmdlab run` skips its figures on request too
    assert main(["run", "--preset", "tiny", "--seeds", "2", "--no-plot",
                 "--out", str(tmp_path / "one")]) == 0  # fmt: skip
    assert not list((tmp_path / "one").glob("*.png"))


@pytest.mark.parametrize("seeds", [True, 2.0, None, "4", [2**32], [True], [-1], []])
def test_odd_seeds_are_one_valueerror_before_compute(seeds):
    from dmdlab import distill
    from dmdlab.presets import PRESETS

    with pytest.raises(ValueError, match=r"seeds must be a count >= 1 or a non-empty list"):
        distill(PRESETS["tiny"].base, seeds)


def test_eval_every_zero_is_one_line_not_a_zerodivisionerror(tmp_path, capsys):
    _one_line_exit_2(["run", "--preset", "tiny", "--set", "eval_every=0", "--out",
                      str(tmp_path / "x")], capsys, "eval_every=0 is invalid")  # fmt: skip


def test_a_sweep_without_out_never_replaces_another_sweeps_results(tmp_path, capsys,
                                                                   monkeypatch):  # fmt: skip
    import json

    from dmdlab.sweep import SweepSpec

    monkeypatch.chdir(tmp_path)
    spec = SweepSpec.build("tiny")
    folder = tmp_path / "results" / "tiny"
    folder.mkdir(parents=True)
    mine = {"base_config": spec.base.to_dict(), "grid": spec.grid, "seeds": list(spec.seeds)}
    (folder / "manifest.json").write_text(json.dumps({**mine, "seeds": [0, 1, 2]}))
    _one_line_exit_2(["sweep", "--preset", "tiny", "--dry-run"], capsys,
                     "holds another sweep's results")  # fmt: skip
    (folder / "manifest.json").write_text(json.dumps(mine))  # the same sweep: it resumes
    assert main(["sweep", "--preset", "tiny", "--dry-run"]) == 0
