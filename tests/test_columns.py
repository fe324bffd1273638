"""The column registry: a declared metric reaches the table, the summaries and the cell
line with no other edit; an undeclared one is an error, never a silent drop."""

import jax.numpy as jnp
import numpy as np
import pytest

from dmdlab import GaussianMixture
from dmdlab import columns as cols_module
from dmdlab.columns import COLUMNS, Column, _column, check_columns, table_of
from dmdlab.config import DMDConfig
from dmdlab.engine import TrainOutput
from dmdlab.evaluate import metrics_table
from dmdlab.method import ERROR_SIGMAS
from dmdlab.setup import StartMeasures

S, E, N, D, K = 2, 2, 48, 2, 3


@pytest.fixture
def swap(monkeypatch):
    """Replace the whole column table for one test: ``swap(columns)`` installs
    ``table_of(columns)`` (the table itself is immutable; monkeypatch restores it)."""

    def install(columns):
        monkeypatch.setattr(cols_module, "COLUMNS", table_of(columns))

    return install


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
        classes=None,
        train_points=None,
        teacher_onestep=np.zeros((S, N, D), np.float32),
        student_samples=student.astype(np.float32),
        losses={"dm_loss": zeros, "fake_loss": zeros},
        records={"fake_error": np.zeros((S, E, len(ERROR_SIGMAS)), np.float32)},
        teacher_error=np.zeros((S, len(ERROR_SIGMAS)), np.float32),
        start=StartMeasures(*[np.zeros(S, np.float32)] * len(StartMeasures._fields)),
        teacher_loss=np.zeros(S, np.float32),
        diverged_step=np.full(S, -1),
        final_state=None,
    )  # fmt: skip
    return DMDConfig(dim=D, n_modes=K, steps=20, eval_every=20, eval_n=N), out


def test_a_declared_metric_reaches_table_summary_and_cell_line(swap):
    from dmdlab import summary, sweep

    config, out = _fake_output()
    mean_x = Column("mean_x", "mean first coordinate", "fidelity", summary="fidelity",
                    label="x̄", fn=lambda e: jnp.mean(e.student[:, 0]))  # fmt: skip
    swap([*COLUMNS.values(), mean_x])
    table = metrics_table(config, out, [0, 1])
    expected = out.student_samples[:, :, :, 0].mean(-1).ravel()
    np.testing.assert_allclose(table.mean_x, expected, rtol=1e-5)
    last = table[table.step == 20]
    np.testing.assert_allclose(last.kappa, 1.0, rtol=1e-6)  # G = T at the last record
    table["cell"] = "c0"
    assert "x̄" in summary.format_summary(table)
    spec = sweep.SweepSpec(config, {"dim": [D]}, [0, 1])
    assert "x̄=" in sweep._cell_line(spec, config, (0, 1), table, {"wall_s": 1.0, "compile_s": 0.0})


def test_an_undeclared_or_uncomputed_column_is_an_error(swap):
    config, out = _fake_output()
    swap([c for c in COLUMNS.values() if c.name != "dm_loss"])  # metrics_table still fills it
    with pytest.raises(ValueError, match=r"undeclared result columns \['dm_loss'\]"):
        metrics_table(config, out, [0, 1])
    swap([*COLUMNS.values(), Column("ghost", "never filled", "fidelity")])
    with pytest.raises(ValueError, match=r"\['ghost'\] were not computed"):
        metrics_table(config, out, [0, 1])


def test_declarations_are_checked():
    with pytest.raises(ValueError, match="declared twice"):
        table_of([*COLUMNS.values(), _column("kappa", "again", "copying")])
    with pytest.raises(ValueError, match="group must be one of"):
        _column("new_metric", "bad group", "speed")
    with pytest.raises(ValueError, match="needs a label"):
        _column("new_metric", "no label", "copying", summary="copying")
    with pytest.raises(TypeError):
        COLUMNS["new_metric"] = COLUMNS["kappa"]  # the table itself cannot be edited
    assert list(COLUMNS)[:3] == ["seed", "step", "kappa"]  # table order as declared
    check_columns(list(COLUMNS))  # the declared set itself passes
