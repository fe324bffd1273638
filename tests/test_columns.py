"""The column registry: a declared metric reaches the table, the summaries and the cell
line with no other edit; an undeclared one is an error, never a silent drop."""

import jax.numpy as jnp
import numpy as np
import pytest

from dmdlab import GaussianMixture
from dmdlab.columns import COLUMNS, Column, check_columns, declare
from dmdlab.config import DMDConfig
from dmdlab.dmd import ERROR_SIGMAS, StartMeasures, TrainOutput
from dmdlab.evaluate import metrics_table

S, E, N, D, K = 2, 2, 48, 2, 3


@pytest.fixture
def registry():
    """COLUMNS itself, restored afterwards *in order* (monkeypatch's undo would re-insert
    a deleted column at the end and reorder every later table in this process)."""
    saved = dict(COLUMNS)
    yield COLUMNS
    COLUMNS.clear()
    COLUMNS.update(saved)


def _fake_output() -> tuple[DMDConfig, TrainOutput]:
    """A hand-made 2-seed, 2-record output (no training): the student equals the teacher
    at the last record, so κ there is 1 (an oracle for the table's plumbing)."""
    rng = np.random.default_rng(0)
    means = np.array([[-3.0, 0.0], [3.0, 0.0], [0.0, 3.0]], np.float32)
    mix = GaussianMixture(np.full(K, 1 / K, np.float32), means, np.full(K, 0.3, np.float32))
    stack = lambda a: np.stack([np.asarray(a)] * S)  # noqa: E731
    teacher = means[rng.integers(0, K, (S, N))] + 0.3 * rng.normal(size=(S, N, D))
    student = np.stack([np.roll(teacher, 1, axis=1), teacher], axis=1)  # (S, E, N, D)
    zeros = np.zeros((S, E), np.float32)
    out = TrainOutput(
        mixture=GaussianMixture(stack(mix.weights), stack(mix.means), stack(mix.stds)),
        z=rng.normal(size=(S, N, D)).astype(np.float32),
        teacher_samples=teacher.astype(np.float32),
        reference=teacher.astype(np.float32),
        student_samples=student.astype(np.float32),
        gen_loss=zeros, fake_loss=zeros, gan_gen_loss=zeros, gan_disc_loss=zeros,
        fake_error=np.zeros((S, E, len(ERROR_SIGMAS)), np.float32),
        teacher_error=np.zeros((S, len(ERROR_SIGMAS)), np.float32),
        start=StartMeasures(*[np.zeros(S, np.float32)] * len(StartMeasures._fields)),
        teacher_loss=np.zeros(S, np.float32),
        diverged_step=np.full(S, -1),
        student_params=None, fake_params=None,
    )  # fmt: skip
    return DMDConfig(dim=D, n_modes=K, steps=20, eval_every=20, eval_n=N), out


def test_a_declared_metric_reaches_table_summary_and_cell_line(registry):
    from dmdlab import sweep

    config, out = _fake_output()
    mean_x = Column("mean_x", "mean first coordinate", "fidelity", summary="fidelity",
                    label="x̄", fn=lambda mix, s, t, r: jnp.mean(s[:, 0]))  # fmt: skip
    registry["mean_x"] = mean_x
    table = metrics_table(config, out, [0, 1])
    expected = out.student_samples[:, :, :, 0].mean(-1).ravel()
    np.testing.assert_allclose(table.mean_x, expected, rtol=1e-5)
    last = table[table.step == 20]
    np.testing.assert_allclose(last.kappa, 1.0, rtol=1e-6)  # G = T at the last record
    table["cell"] = "c0"
    assert "x̄" in sweep.format_summary(table)
    spec = sweep.SweepSpec(config, {"dim": [D]}, [0, 1])
    assert "x̄=" in sweep._cell_line(spec, config, table, {"wall_s": 1.0, "compile_s": 0.0})


def test_an_undeclared_or_uncomputed_column_is_an_error(registry):
    config, out = _fake_output()
    saved = dict(registry)
    del registry["gen_loss"]  # metrics_table still fills it
    with pytest.raises(ValueError, match=r"undeclared result columns \['gen_loss'\]"):
        metrics_table(config, out, [0, 1])
    registry.clear()
    registry.update(saved)
    registry["ghost"] = Column("ghost", "never filled", "fidelity")
    with pytest.raises(ValueError, match=r"\['ghost'\] were not computed"):
        metrics_table(config, out, [0, 1])


def test_declarations_are_checked(registry):
    with pytest.raises(ValueError, match="declared twice"):
        declare("kappa", "again", "copying")
    with pytest.raises(ValueError, match="group must be one of"):
        declare("new_metric", "bad group", "speed")
    with pytest.raises(ValueError, match="needs a label"):
        declare("new_metric", "no label", "copying", summary="copying")
    assert "new_metric" not in COLUMNS
    assert list(COLUMNS)[:3] == ["seed", "step", "kappa"]  # table order as declared
    check_columns(list(COLUMNS))  # the declared set itself passes
