import os
import shutil
import tempfile

import jax
import pytest

# One compilation cache for the subprocesses of CLI/study/notebook tests (all inherit
# DMDLAB_CACHE_DIR), so a program they share compiles once per run. Entries are keyed by
# HLO: results are the same with or without it. The process that creates the directory
# removes it. The test processes themselves keep their programs in memory only: serializing
# an executable into the cache aborted a pytest worker twice (jax 0.10.2, CPU; inside
# `executable.serialize()`, after a few hundred tests in one process, never when the test
# ran alone), and a lost worker costs the whole run.
_OWN_CACHE = "DMDLAB_CACHE_DIR" not in os.environ
if _OWN_CACHE:
    os.environ["DMDLAB_CACHE_DIR"] = tempfile.mkdtemp(prefix="dmdlab-test-xla-")
# off in this process (the CLI's in-process tests would otherwise turn it on); subprocesses
# read only the environment
jax.config.update("jax_enable_compilation_cache", False)


def pytest_unconfigure(config):
    if _OWN_CACHE:
        shutil.rmtree(os.environ["DMDLAB_CACHE_DIR"], ignore_errors=True)


@pytest.fixture(scope="module", autouse=True)
def _release_compiled_programs():
    """After each test module, drop the compiled programs it kept (JAX's caches and
    dmdlab's own): a pytest worker that compiles several hundred programs holds a memory
    map or more per executable and reached Linux's vm.max_map_count (65 530 here: a worker
    at 59 771 maps, the other segfaulting inside XLA's compile), so a worker keeps only
    one module's programs. DMDLAB_TEST_MAPS=1 prints the counts after each module."""
    yield
    from dmdlab.compile_cache import memory_maps, release_programs

    before = memory_maps()
    release_programs()
    if os.environ.get("DMDLAB_TEST_MAPS"):
        print(f"\n[memory maps after the module: {before}, released: {memory_maps()}]")


@pytest.fixture
def key():
    return jax.random.key(0)
