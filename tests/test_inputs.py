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


@pytest.mark.parametrize(
    "argv, needle",
    [  # each silently ran another config than the one asked for
        (["--set", "dim=2", "--grid", "init=random,teacher", "--grid", "protocol=workbench"],
         "--grid init conflicts with protocol=workbench"),
        (["--grid", "generator=denoiser,mlp", "--grid", "protocol=regressed"],
         "--grid generator conflicts with protocol=regressed"),
        (["--grid", "protocol=dmd2,workbench", "--set", "world=blobs"],
         "--set world conflicts with protocol=dmd2"),
        (["--set", "init=random", "--set", "protocol=workbench"],
         "--set init conflicts with --set protocol=workbench"),
        (["--set", "protocol=workbench", "--set", "init=random"],
         "--set init conflicts with --set protocol=workbench"),
        (["--set", "protocol=workbench", "--grid", "protocol=dmd2"],
         "['protocol'] given twice"),
    ],
)  # fmt: skip
def test_a_field_set_by_the_user_and_by_a_bundle_is_an_error_naming_both(
    tmp_path, capsys, argv, needle
):
    _one_line_exit_2(["sweep", "--preset", "tiny", *argv, "--out", str(tmp_path / "x")],
                     capsys, needle)  # fmt: skip


def test_bundle_fields_the_user_repeats_or_completes_are_accepted():
    # the bundle's own value again is no conflict; a blobs-only field is valid beside it
    same = SweepSpec.build("tiny", ["class_dim=2"], ["protocol=workbench"])
    assert {(c.world, c.class_dim) for c in same.cells()} == {("blobs", 2)}
    radius = SweepSpec.build("tiny", ["mean_radius=3"], ["protocol=workbench"])
    assert {(c.init, c.mean_radius) for c in radius.cells()} == {("regressed", 3.0)}
    # --set protocol pins the preset's swept bundle instead of running beside it
    pinned = SweepSpec.build("protocols-quick", ["protocol=dmd2"])
    assert "protocol" not in pinned.grid and {c.world for c in pinned.cells()} == {"mixture"}
    with pytest.raises(ValueError, match="--set init conflicts with protocol=dmd2"):
        SweepSpec.build("protocols-quick", ["init=random"])


def test_the_sigma_max_teacher_gate_cannot_pass_for_blobs_under_ve(key):
    """The oracle bound behind docs/science.md §8's note: in the blobs world under VE a
    denoiser only 0.1% off the exact one already reads more error than the pairing signal
    at σ_max, while in the mixture world the same error is far below it."""
    import jax

    from dmdlab.metrics import readout_error

    sigma, d = 80.0, 32
    z = jax.random.normal(key, (512, d))
    blobs = GaussianMixture.blobs(jax.random.PRNGKey(1), d, 8, class_dim=2)
    labels = jnp.arange(512) % 8
    exact = blobs.denoise(sigma * z, sigma, labels=labels)
    assert float(readout_error(exact * 1.001, exact, labels)) > 1.0  # fails the gate (> 1)
    mixture = GaussianMixture.random(jax.random.PRNGKey(1), d, 8, 0.2)
    exact = mixture.denoise(sigma * z, sigma)
    assert float(readout_error(exact * 1.001, exact)) < 0.01


def test_report_rewrites_a_moved_sweeps_summary_byte_for_byte(tmp_path, capsys):
    """results/default as committed (CSV, manifest, no cells): `dmdlab report` on a moved
    copy reproduces its summary.txt exactly (regenerate it with `dmdlab report
    results/default` when the summary's format changes)."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "results" / "default"
    moved = tmp_path / "moved"
    shutil.copytree(root, moved, ignore=shutil.ignore_patterns("cells", "*.parquet"))
    (moved / "summary.txt").unlink()
    assert main(["report", str(moved)]) == 0
    assert (moved / "summary.txt").read_bytes() == (root / "summary.txt").read_bytes()
    assert (moved / "answer.png").stat().st_size > 10_000
    # into another folder (a read-only sweep directory's way out); a file there: one line
    assert main(["plot", str(moved), "--to", str(tmp_path / "figs")]) == 0
    assert (tmp_path / "figs" / "kappa_by_seed.png").is_file()
    capsys.readouterr()
    _one_line_exit_2(["report", str(moved), "--to", str(moved / "summary.txt")], capsys,
                     "is a file, not a directory")  # fmt: skip


def test_a_cell_store_that_cannot_be_written_is_refused_before_compute(tmp_path, capsys):
    out = tmp_path / "x"
    out.mkdir()
    (out / "cells").write_text("not a folder")  # fails for root too, unlike a chmod
    _one_line_exit_2(["sweep", "--preset", "tiny", "--out", str(out)], capsys,
                     f"cannot write to the cell store {out / 'cells'}")  # fmt: skip
    assert sorted(p.name for p in out.iterdir()) == ["cells"]


def test_a_killed_writers_temporaries_are_removed_and_live_ones_kept(tmp_path):
    import os
    import socket
    import subprocess

    from dmdlab.store import clean_temporaries

    dead = subprocess.Popen(["true"])
    dead.wait()
    here = socket.gethostname()
    names = {
        "killed": f".results.parquet.tmp-{here}-{dead.pid}-abc123",
        "old_form": f".deadbeef.parquet.tmp-{dead.pid}",
        "running": f".cell.parquet.tmp-{here}-{os.getpid()}-abc123",
        "other_host": f".cell.parquet.tmp-elsewhere-{dead.pid}-abc123",
    }
    for name in names.values():
        (tmp_path / name).write_bytes(b"partial")
    removed = {p.name for p in clean_temporaries(tmp_path)}
    assert removed == {names["killed"], names["old_form"]}
    assert {p.name for p in tmp_path.iterdir()} == {names["running"], names["other_host"]}


def test_copying_metrics_name_a_wrong_groups_argument():
    from dmdlab.metrics import copying_within, distance_ratios, memorized_share

    a = jnp.ones((4, 2))
    with pytest.raises(ValueError, match=r"groups must be an \(n,\) = \(4,\)"):
        copying_within(a, a, jnp.zeros(3, int))
    with pytest.raises(ValueError, match=r"groups must be an \(n,\) = \(4,\)"):
        distance_ratios(a, a, jnp.zeros(5, int))
    with pytest.raises(ValueError, match=r"x must have shape \(n, 3\)"):
        memorized_share(jnp.ones(3), jnp.ones((4, 3)))
    with pytest.raises(ValueError, match=r"points must have shape \(N, d\)"):
        memorized_share(jnp.ones((3, 3)), jnp.ones(3))


def test_the_dry_run_counts_each_cells_overhead():
    """5000 tiny cells: ≥ 1 s each beyond their steps (measured 1.0–1.7 s, plus the
    compiles), not the ~74 min that counting steps alone gave."""
    from dmdlab.sweep import plan_sweep

    plan = plan_sweep(SweepSpec.build("tiny", seeds=10000), "/nonexistent-dmdlab-out")
    assert len(plan) == 5000 and plan.seconds.sum() > 5000 * 1.0 + 74 * 60


def test_an_earlier_sweeps_figures_do_not_stay_beside_new_results(tmp_path):
    from dmdlab.sweep import run_sweep

    out = tmp_path / "x"
    out.mkdir()
    for name in ("answer.png", "pairings.png", "copying_vs_dim.png"):
        (out / name).write_bytes(b"an earlier sweep's figure")
    (out / "mine.png").write_bytes(b"not dmdlab's")
    logs = []
    run_sweep(SweepSpec.build("tiny", ["dim=2", "steps=20", "eval_every=10"], [], seeds=2),
              out, progress=False, plot=False, log=logs.append)  # fmt: skip
    assert sorted(p.name for p in out.glob("*.png")) == ["mine.png"]
    assert any("removed 3 figure(s) of an earlier sweep" in m for m in logs)


def test_dims_outside_a_presets_budget_rule_are_named(tmp_path, capsys):
    assert main(["sweep", "--grid", "dim=2,3,5", "--dry-run", "--out", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "warning: dim=3, 5 outside the default preset's budget rule" in err
    assert "teacher_steps=6000" in err
    assert main(["sweep", "--grid", "dim=2,8", "--dry-run", "--out", str(tmp_path)]) == 0
    assert "warning" not in capsys.readouterr().err  # a subset keeps its budgets


@pytest.mark.parametrize("only", ["", "9x", "3", "-1", "0,,1"])
def test_a_benchmarks_unknown_variant_is_one_line_exit_2(only, capsys, monkeypatch):
    """mode_balance.py / authors_gates.py --only: a name outside 0..count-1 stops argparse."""
    import argparse
    from pathlib import Path

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from _variants import picked_variants

    parser = argparse.ArgumentParser(prog="bench")
    with pytest.raises(SystemExit) as exit_:
        picked_variants(parser, only, 3)
    assert exit_.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last == f"bench: error: --only {only!r}: variant numbers 0-2"
    assert picked_variants(parser, "2,0", 3) == [2, 0]
    assert picked_variants(parser, None, 3) == [0, 1, 2]
