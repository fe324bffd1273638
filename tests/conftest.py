import os
import shutil
import tempfile

import jax
import pytest

from dmdlab.compile_cache import enable_compilation_cache

# One compilation cache for the whole test run, shared by the xdist workers and by the
# subprocesses of CLI/study/notebook tests (all inherit DMDLAB_CACHE_DIR), so each
# distinct program compiles once per run. Entries are keyed by HLO: results are the
# same with or without it. The process that creates the directory removes it.
_OWN_CACHE = "DMDLAB_CACHE_DIR" not in os.environ
if _OWN_CACHE:
    os.environ["DMDLAB_CACHE_DIR"] = tempfile.mkdtemp(prefix="dmdlab-test-xla-")
enable_compilation_cache()  # reads DMDLAB_CACHE_DIR ("off" disables it)


def pytest_unconfigure(config):
    if _OWN_CACHE:
        shutil.rmtree(os.environ["DMDLAB_CACHE_DIR"], ignore_errors=True)


@pytest.fixture
def key():
    return jax.random.key(0)
