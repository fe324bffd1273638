"""Run many seeds of one config as a single compiled, device-sharded program."""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from dmdlab.compile_cache import program_cache
from dmdlab.config import TEACHER_FIELDS, DMDConfig
from dmdlab.engine import TrainOutput, make_program
from dmdlab.evaluate import metrics_table
from dmdlab.method import Hyperparams
from dmdlab.methods import check
from dmdlab.mixture import GaussianMixture
from dmdlab.progress import CellProgress, reporting

__all__ = [
    "SEED_GROUP",
    "compiler_options",
    "distill",
    "estimate",
    "memory_available",
    "normalize_seeds",
    "run_seeds",
    "train_teachers",
    "training_macs",
]


def normalize_seeds(seeds) -> list[int]:
    """An int count n → [0, …, n−1]; a sequence of ints in [0, 2³²) → itself. Validated:
    anything else is a ValueError naming ``seeds`` and what it may be."""
    allowed = "a count >= 1 or a non-empty list of ints in [0, 2**32)"
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, (bool, np.bool_)):
        if seeds < 1:
            raise ValueError(f"seeds must be {allowed}, got {seeds}")
        return list(range(int(seeds)))
    if isinstance(seeds, (str, bytes, bool, np.bool_)) or not hasattr(seeds, "__iter__"):
        raise ValueError(f"seeds must be {allowed}, got {seeds!r}")
    seeds = list(seeds)
    ok = lambda s: isinstance(s, (int, np.integer)) and not isinstance(s, bool)  # noqa: E731
    # a seed becomes a uint32 PRNG key: 2**32 and above would overflow after validation
    if not seeds or not all(ok(s) and 0 <= s < 2**32 for s in seeds):
        raise ValueError(f"seeds must be {allowed}, got {seeds}")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must not repeat, got {seeds}")
    return [int(s) for s in seeds]


# Below this many multiply-adds of training per seed, a CPU program runs in a few
# seconds but takes ~30 s to compile at XLA's default optimisation level. Level 0
# compiles it ~1.5× faster and runs it ~2.2× slower (benchmarks/compile_time.py), which
# wins for tests, the tiny preset and notebook-sized runs.
SMALL_PROGRAM_MACS = 2e10


def _weights(config: DMDConfig) -> int:
    """Rough weight count of one network of ``config``."""
    return config.width**2 * max(config.depth - 1, 1) + 2 * config.width * (config.dim + 64)


def training_macs(config: DMDConfig, first_step: int = 0, teacher: bool = True) -> float:
    """Rough multiply-adds of one seed's training: network passes × samples × weights.

    Teacher: forward + backward (≈ 3 passes) per sample; each step of the method: the
    passes it declares (``Method.passes``, e.g. DMD2's fake-score updates and the
    generator's student, real and fake passes) per sample of the batch. ``first_step``:
    a run resumed there (the steps before are not trained again); ``teacher`` False: its
    teacher is loaded from the teacher store (dmdlab.teacher_store), not trained."""
    from dmdlab.methods import get_method

    teacher = 3 * config.teacher_steps * config.teacher_batch_size if teacher else 0
    per_step = get_method(config.method).passes(config) * config.batch_size
    return float(_weights(config) * (teacher + (config.steps - first_step) * per_step))


# Achieved multiply-adds per second used for the time estimate: dmdlab's measured rate on
# the 2-core CPU (~30 GMAC/s, benchmarks/RESULTS.md); a GPU is far faster, so there the
# estimate is an upper bound.
ESTIMATE_MACS_PER_S = 3e10


def estimate(config: DMDConfig, n_seeds: int, n_devices: int = 1, first_step: int = 0,
             teacher: bool = True) -> dict[str, float]:  # fmt: skip
    """What a cell of ``config`` × ``n_seeds`` needs, before any compute: ``device_bytes``
    (one launch of SEED_GROUP seeds per device: the networks with their optimizer states,
    the training activations, the recorded samples), ``host_bytes`` (every seed's outputs
    gathered on the host) and ``seconds`` (from :func:`training_macs` at
    :data:`ESTIMATE_MACS_PER_S`; ``first_step``: resumed there). Rough (within a small
    factor), to refuse what cannot fit."""
    c = config
    weights = _weights(c)
    states = 14 * weights  # teacher, student, fake; AdamW's two moments; updates
    acts = 12 * max(c.batch_size, c.teacher_batch_size) * c.width * c.depth
    records = (c.n_evals + 6) * c.eval_n * c.dim  # G(z) per record, z, T(z), reference…
    device = 4.0 * SEED_GROUP * (states + acts + records)
    host = 4.0 * n_seeds * (records + states)
    # evaluation: the teacher's and the exact ODE maps and every record's student pass
    evaluation = weights * c.eval_n * (4 * c.ode_steps + c.n_evals * c.student_steps)
    evaluation *= 1 - first_step / c.steps  # a resumed run records only its new steps
    seconds = (training_macs(c, first_step, teacher) + evaluation) * n_seeds / ESTIMATE_MACS_PER_S
    return {"device_bytes": device, "host_bytes": host, "seconds": seconds}


def memory_available() -> tuple[float, float]:
    """(bytes of memory per device, bytes of host memory) on this machine: a GPU's own
    limit where JAX reports one, else the host's physical memory."""
    host = float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    # a process reads only its own devices' stats (another process's raise in JAX)
    stats = jax.local_devices()[0].memory_stats() or {}
    return float(stats.get("bytes_limit", host)), host


def compiler_options(config: DMDConfig) -> dict[str, int]:
    """XLA options for ``config``'s program: optimisation level 0 on CPU for programs
    below :data:`SMALL_PROGRAM_MACS`, where compiling dominates; {} otherwise. A function
    of the config alone, so the same config and seed still give the same numbers."""
    small = training_macs(config) < SMALL_PROGRAM_MACS
    return {"xla_backend_optimization_level": 0} if small and _on_cpu() else {}


def _on_cpu() -> bool:
    return jax.default_backend() == "cpu"


def _sharded(config: DMDConfig, n_devices: int, mixture=None, first_step: int = 0,
             with_teacher: bool = False, progress: bool = False):  # fmt: skip
    """jit(vmap(train)) with the seed axis sharded over the first ``n_devices`` devices
    of every process (``jax.devices()``: after ``jax.distributed.initialize()`` the mesh
    spans hosts and one program trains every seed). With ``first_step`` > 0, the program
    resumes from a checkpointed carry (a third argument, seed axis first); with
    ``with_teacher``, it takes the seeds' stored teachers (params, losses) last; with
    ``progress``, it reports each record to the host (dmdlab.progress)."""
    seed_axis = NamedSharding(_mesh(n_devices), P("seed"))
    program = make_program(config, mixture, progress)
    if first_step:
        train = jax.vmap(lambda key, hp, carry, *teacher: program.extend(
            key, hp, carry, first_step, *teacher))  # fmt: skip
    else:
        train = jax.vmap(program.train)
    if jax.process_count() > 1:  # keys cross processes as raw uint32 data (S, 2)
        train = _from_key_data(train)
    return jax.jit(
        train,
        in_shardings=(seed_axis,) * (2 + bool(first_step) + with_teacher),
        out_shardings=seed_axis,
        compiler_options=compiler_options(config) or None,
    )


@program_cache(maxsize=32)
def _teacher_program(static: DMDConfig, options: tuple, n_devices: int):
    """jit(vmap(train_teacher)) over the seed axis, sharded and compiled with the cell's
    own XLA ``options`` (items), for teachers trained once and stored."""
    from dmdlab.method import Setting
    from dmdlab.setup import train_teacher

    seed_axis = NamedSharding(_mesh(n_devices), P("seed"))
    setting = Setting.of(check(static))
    fn = jax.vmap(lambda key, hp: train_teacher(setting, key, hp))
    if jax.process_count() > 1:
        fn = _from_key_data(fn)
    return jax.jit(fn, in_shardings=(seed_axis,) * 2, out_shardings=seed_axis,
                   compiler_options=dict(options) or None)  # fmt: skip


def _teacher_part(config: DMDConfig) -> DMDConfig:
    """``config``'s static part with every field outside the teacher's (TEACHER_FIELDS) at
    its default: one compiled teacher program serves every init, method and student
    setting (the config as it is where the defaults do not make a valid config)."""
    static = config.static_part()
    try:
        return DMDConfig(**{f: getattr(static, f) for f in TEACHER_FIELDS})
    except ValueError:
        return static


def train_teachers(config: DMDConfig, seeds, *, n_devices: int | None = None):
    """The teacher networks of ``config`` for ``seeds``, trained on their own: (params,
    losses) with a leading seed axis (len(seeds), …), the numbers a cell's setup would
    train (its keys, data, steps), to store once and pass to :func:`run_seeds` as
    ``teachers``. Returns (teachers, seconds)."""
    seeds = normalize_seeds(seeds)
    n_dev = n_devices or jax.device_count()
    size = SEED_GROUP * n_dev
    keys, hp = _padded_inputs(config, seeds, None, size)
    options = tuple(sorted(compiler_options(config).items()))  # the cell's, not the part's
    fn = _teacher_program(_teacher_part(config), options, n_dev)
    t0 = time.perf_counter()
    out = _launch_all(fn, keys, hp, None, size, n_dev)
    return jax.tree.map(lambda x: x[: len(seeds)], out), time.perf_counter() - t0


def _mesh(n_devices: int):
    """A 1-D "seed" mesh over the first ``n_devices`` devices. Across processes its axis
    is Auto: the inputs are then global arrays whose sharding would otherwise enter
    their types and constrain every gather of the (replicated-per-seed) program."""
    devices = jax.devices()[:n_devices]
    if jax.process_count() > 1:
        auto = (jax.sharding.AxisType.Auto,)
        return jax.make_mesh((n_devices,), ("seed",), auto, devices=devices)
    return jax.make_mesh((n_devices,), ("seed",), devices=devices)


def _from_key_data(train):
    def run(key_data, *args):
        return train(jax.vmap(jax.random.wrap_key_data)(key_data), *args)

    return run


def _global(host_array, sharding: NamedSharding) -> jax.Array:
    """A global array from one identical host array on every process, each process
    supplying the shards its devices hold."""
    return jax.make_array_from_callback(host_array.shape, sharding, lambda i: host_array[i])


@program_cache(maxsize=32)
def _compiled(static: DMDConfig, n_devices: int, first_step: int = 0,
              with_teacher: bool = False, progress: bool = False):  # fmt: skip
    """The sharded program, cached on the config's static part: configs differing only
    in learning rates reuse it (their rates arrive as traced ``Hyperparams``)."""
    return _sharded(static, n_devices, first_step=first_step, with_teacher=with_teacher,
                    progress=progress)  # fmt: skip


# Where a program came from, from JAX's own monitoring events: XLA's backend compile
# step (which also runs when the executable is read from the persistent cache, then
# with a cache-hit event) or neither (jit's in-memory cache). A cached program still
# takes seconds to trace and load, and the timing should say which it was.
_EVENTS = {"backend": 0, "disk": 0}


def _count_backend(event: str, duration: float, **_) -> None:
    if event == "/jax/core/compile/backend_compile_duration":
        _EVENTS["backend"] += 1


def _count_disk_hits(event: str, **_) -> None:
    if event == "/jax/compilation_cache/cache_hits":
        _EVENTS["disk"] += 1


@functools.cache
def _listen() -> None:
    """Install the two listeners, once per process, when a program is first timed (not
    on import: importing dmdlab should not change JAX's process-wide state)."""
    jax.monitoring.register_event_duration_secs_listener(_count_backend)
    jax.monitoring.register_event_listener(_count_disk_hits)


def _compile_source(before: dict) -> str:
    if _EVENTS["disk"] > before["disk"]:
        return "disk cache"
    return "compiled" if _EVENTS["backend"] > before["backend"] else "memory"


# Seeds run in launches of SEED_GROUP per device: every launch has the same shapes
# whatever the seed count, so a seed's numbers never depend on which other seeds share
# its program (a vmapped batch of another size rounds differently; measured: seeds 0-2 of
# one d = 32 config 0.049 apart in κ between a 3-seed and an 8-seed program).
SEED_GROUP = 4


def _padded_inputs(config: DMDConfig, seeds: list[int], hparams, group: int):
    """Keys (S',) and hyperparameters (S',) for ``seeds`` padded to a multiple of
    ``group`` (repeating the last seed)."""
    n_pad = -len(seeds) % group
    padded = seeds + [seeds[-1]] * n_pad
    keys = jax.vmap(jax.random.key)(jnp.asarray(padded, dtype=jnp.uint32))
    if hparams is None:
        hparams = jax.tree.map(lambda v: jnp.full((len(seeds),), v), Hyperparams.of(config))
    for name, value in hparams._asdict().items():
        if jnp.shape(value) != (len(seeds),):
            raise ValueError(
                f"hparams.{name} must have shape ({len(seeds)},), got {jnp.shape(value)}"
            )
    hp = jax.tree.map(
        lambda v: jnp.concatenate([jnp.asarray(v, jnp.float32), jnp.full((n_pad,), v[-1])]),
        hparams,
    )
    return keys, hp


def _launch_inputs(keys, hp, start: int, size: int, n_dev: int, carry=None, teacher=None):
    """One launch's slice of the padded inputs (and of a resumed run's ``carry``, and of
    stored ``teacher``s); global arrays across processes."""
    cut = lambda tree: jax.tree.map(lambda v: v[start : start + size], tree)  # noqa: E731
    inputs = (keys[start : start + size], cut(hp), *(() if carry is None else (cut(carry),)),
              *(() if teacher is None else (cut(teacher),)))  # fmt: skip
    if jax.process_count() > 1:  # every process passes the same inputs, as global arrays
        sharding = NamedSharding(_mesh(n_dev), P("seed"))
        keys = _global(np.asarray(jax.random.key_data(inputs[0])), sharding)
        rest = jax.tree.map(lambda v: _global(np.asarray(v), sharding), inputs[1:])
        inputs = (keys, *rest)
    return inputs


def _padded_carry(carry, n_seeds: int, group: int):
    """A checkpointed carry (leaves with a leading seed axis of ``n_seeds``) padded like
    :func:`_padded_inputs` (repeating the last seed)."""
    n_pad = -n_seeds % group
    return jax.tree.map(
        lambda v: np.concatenate([np.asarray(v), np.repeat(np.asarray(v)[-1:], n_pad, 0)]), carry
    )


def run_seeds(
    config: DMDConfig,
    seeds,
    *,
    hparams: Hyperparams | None = None,
    n_devices: int | None = None,
    mixture: GaussianMixture | None = None,
    phase: Callable[[str], None] | None = None,
    resume: tuple[object, int] | None = None,
    teachers=None,
    progress: Callable[[str], None] | None = None,
) -> tuple[TrainOutput, dict]:
    """Train every seed of ``config``; returns (outputs with a leading seed axis, timing
    dict with ``compile_s``, ``run_s`` and ``compile_source``: "compiled", "disk cache"
    (the persistent compilation cache) or "memory" (compiled earlier in this process)).
    One compiled program of :data:`SEED_GROUP` seeds per device, launched as many times
    as the seeds need (the last launch padded by repeating the last seed; padding runs
    are dropped), so a seed's numbers are the same whatever other seeds or devices run
    with it. ``phase`` (optional) is called with "compiling" and then "training", for
    progress displays. ``hparams`` (optional) gives each seed its own learning rates,
    arrays (len(seeds),): one compiled program then trains a learning-rate sweep. After
    ``jax.distributed.initialize()`` the devices are every process's, each process
    calls this with the same arguments and gets every seed back. ``mixture`` replaces the
    per-seed random mixture by one of your own (see :func:`dmdlab.make_train`).
    ``resume`` = (carry, first_step): continue from a checkpoint (``dmdlab.checkpoint``)
    saved at the recorded step ``first_step``, the carry's leaves with a leading axis of
    len(seeds); the outputs then hold the records after ``first_step`` only.
    ``teachers`` = (params, losses) with a leading seed axis (:func:`train_teachers`, or
    loaded from the teacher store): the cells use them instead of training their own
    (the same numbers on one machine and stack). ``progress`` (optional) is called with
    a line at each record ("step s/steps · κ · gap · ETA", dmdlab.progress), from a
    program that reports its records to the host and trains the same numbers.
    """
    seeds = normalize_seeds(seeds)
    n_dev = n_devices or jax.device_count()
    size = SEED_GROUP * n_dev
    keys, hp = _padded_inputs(config, seeds, hparams, size)
    carry, first_step = (None, 0) if resume is None else resume
    carry, teachers = (None if t is None else _padded_carry(t, len(seeds), size)
                       for t in (carry, teachers))  # fmt: skip
    on = progress is not None
    if mixture is None:
        fn = _compiled(config.static_part(), n_dev, first_step, teachers is not None, on)
    else:  # the mixture is baked into the program: no cache
        fn = _sharded(config.static_part(), n_dev, mixture, first_step, teachers is not None, on)
    report = phase or (lambda _: None)
    report("compiling")
    _listen()
    before = dict(_EVENTS)
    t0 = time.perf_counter()
    compiled = fn.lower(*_launch_inputs(keys, hp, 0, size, n_dev, carry, teachers)).compile()
    t1 = time.perf_counter()
    source = _compile_source(before)
    report("training")
    sink = CellProgress(progress, first_step, config.steps, len(seeds), size) if on else None
    with reporting(sink):
        out = _launch_all(compiled, keys, hp, carry, size, n_dev, teachers, sink)
    t2 = time.perf_counter()
    out = jax.tree.map(lambda x: x[: len(seeds)], out)
    return out, {"compile_s": t1 - t0, "run_s": t2 - t1, "compile_source": source}


def _launch_all(compiled, keys, hp, carry, size: int, n_dev: int, teacher=None, sink=None):
    """Every launch of ``compiled`` over the padded inputs, gathered on the host and
    concatenated along the seed axis (padding included); ``sink`` (a CellProgress) is
    told when each launch after the first starts."""
    outs = []
    for start in range(0, len(keys), size):
        if sink is not None and start:
            sink.next_launch()
        inputs = _launch_inputs(keys, hp, start, size, n_dev, carry, teacher)
        out = jax.block_until_ready(compiled(*inputs))
        # Gather to the host before dropping the padding: slicing a sharded axis to a
        # size the mesh does not divide would need a collective. Across processes every
        # process gathers every seed (each holds only its devices' shards).
        if jax.process_count() > 1:
            from jax.experimental import multihost_utils

            out = multihost_utils.process_allgather(out, tiled=True)
        outs.append(jax.device_get(out))
    return jax.tree.map(lambda *xs: np.concatenate([np.asarray(x) for x in xs]), *outs)


def distill(
    config: DMDConfig,
    seeds=4,
    *,
    n_devices: int | None = None,
    mixture: GaussianMixture | None = None,
) -> pd.DataFrame:
    """Distill ``config`` for each seed; one row per seed per recorded step.

    ``seeds``: a count n (seeds 0…n−1) or a list of ints. Columns: ``seed, step,
    copying, mode_agreement, kappa, pairing_inefficiency, teacher_pairing_inefficiency,
    coverage_min, coverage_max, loglik_gap, sliced_w2``, losses, denoiser errors per σ
    band, ``diverged``/``diverged_step``, then every config field. Timings are in
    ``table.attrs``. ``mixture``: distill this mixture instead of a random one per seed.
    """
    seeds = normalize_seeds(seeds)
    out, timing = run_seeds(config, seeds, n_devices=n_devices, mixture=mixture)
    table = metrics_table(config, out, seeds)
    table.attrs.update(timing)
    return table
