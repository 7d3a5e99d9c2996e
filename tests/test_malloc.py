"""nerve/_malloc.py: glibc's malloc keeps freed memory for reuse once nerve is imported."""

import os
import subprocess
import sys

import pytest

from nerve import _malloc

# a training step's allocation pattern: large temporaries of several sizes, freed out of order
_PATTERN = """
import os, resource, sys
import numpy as np
if os.environ.get("IMPORT_NERVE") == "1":
    import nerve
    assert nerve._malloc.tuned == (os.environ.get("NERVE_MALLOC_TUNING") != "0")
def step():
    a = np.ones(9 << 18, np.float32)
    b = np.ones(12 << 18, np.float32)
    del a
    c = np.ones(5 << 18, np.float32)
    d = np.ones(20 << 18, np.float32)
    del b, c, d
for _ in range(3):
    step()
f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    step()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0) / 10)
"""


def _faults_per_step(**env) -> float:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "NERVE_MALLOC"))}
    full.update(env)
    out = subprocess.run([sys.executable, "-c", _PATTERN], capture_output=True, text=True, env=full, check=True)
    return float(out.stdout.strip())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc is tuned on Linux only")
def test_import_keeps_freed_memory_for_the_next_step():
    tuned = _faults_per_step(IMPORT_NERVE="1")
    untouched = _faults_per_step(IMPORT_NERVE="1", NERVE_MALLOC_TUNING="0")
    # each page fault is a fresh page the kernel had to zero: with the tuning, none after warm-up
    assert tuned <= 5, f"{tuned} page faults a step with malloc tuned"
    assert untouched > tuned, f"untuned {untouched} vs tuned {tuned} page faults a step"


class _FakeLibc:
    def __init__(self, ok=1):
        self.calls = []
        self.ok = ok

    def mallopt(self, param, value):
        self.calls.append((param, value))
        return self.ok


def test_tune_sets_the_mmap_threshold_then_the_trim_threshold(monkeypatch):
    monkeypatch.delenv("NERVE_MALLOC_TUNING", raising=False)
    for var in ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "GLIBC_TUNABLES"):
        monkeypatch.delenv(var, raising=False)
    libc = _FakeLibc()
    assert _malloc.tune(libc) is True
    assert libc.calls == [(_malloc.M_MMAP_THRESHOLD, 32 << 20), (_malloc.M_TRIM_THRESHOLD, 256 << 20)]


def test_tune_stops_when_glibc_refuses(monkeypatch):
    monkeypatch.delenv("NERVE_MALLOC_TUNING", raising=False)
    monkeypatch.setattr(_malloc, "tuned", False)
    libc = _FakeLibc(ok=0)
    assert _malloc.tune(libc) is False
    assert libc.calls == [(_malloc.M_MMAP_THRESHOLD, 32 << 20)]  # no trim threshold alone
    assert _malloc.tuned is False


@pytest.mark.parametrize("var,value", [
    ("NERVE_MALLOC_TUNING", "0"),
    ("MALLOC_TRIM_THRESHOLD_", "1000000"),
    ("MALLOC_MMAP_THRESHOLD_", "1000000"),
    ("GLIBC_TUNABLES", "glibc.malloc.trim_threshold=1000000"),
])
def test_tune_leaves_malloc_alone_when_told_or_already_set(var, value, monkeypatch):
    monkeypatch.setenv(var, value)
    libc = _FakeLibc()
    assert _malloc.tune(libc) is False
    assert libc.calls == []
