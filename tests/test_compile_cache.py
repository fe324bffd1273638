import importlib

import jax
import jax.numpy as jnp

from dmdlab import compile_cache
from dmdlab.compile_cache import memory_maps, program_cache, release_if_crowded


def test_release_empties_every_program_cache_only_when_crowded(monkeypatch):
    @program_cache(maxsize=4)
    def program(n: int):
        return jax.jit(lambda x: x * n)

    assert float(program(3)(jnp.float32(2.0))) == 6.0
    # dmdlab's own program caches are registered (the attribute dmdlab.distill is the function)
    distill, evaluate = (importlib.import_module(f"dmdlab.{m}") for m in ("distill", "evaluate"))
    for cached in (distill._compiled, distill._teacher_program, evaluate._records_program):
        assert cached in compile_cache._PROGRAM_CACHES
    maps = memory_maps()
    assert maps > 0  # Linux: the process has its text, heap and stack at least

    monkeypatch.setattr(compile_cache, "_max_maps", lambda: 2 * maps + 10_000)
    assert not release_if_crowded(0.5)  # below half the allowance: nothing dropped
    assert program.cache_info().currsize == 1

    monkeypatch.setattr(compile_cache, "_max_maps", lambda: maps // 2)
    assert release_if_crowded(0.5)
    assert program.cache_info().currsize == 0
    assert float(program(3)(jnp.float32(2.0))) == 6.0  # compiles again when asked
