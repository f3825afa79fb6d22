import platform
import subprocess
import sys

import pytest

# Frees and allocations in the order a request's buffers come and go (a frame, a slice of it, a bigger buffer):
# glibc's defaults hand each round freshly mapped pages.
_ROUNDS = """
import resource, sys
from positronic_core import allocator
if sys.argv[1] == "kept" and not allocator.keep_large_buffers():
    sys.exit("mallopt failed")
frame = bytes(300_000)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(200):
    a = bytearray(frame); b = bytes(a[:200_000]) + b"x"; del a; c = bytearray(400_000); del b, c
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 200)
"""


def _faults_per_round(mode: str) -> float:
    result = subprocess.run([sys.executable, "-c", _ROUNDS, mode], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return float(result.stdout)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt's thresholds are glibc's")
def test_kept_buffers_are_reused_instead_of_faulted_in_afresh():
    default, kept = _faults_per_round("default"), _faults_per_round("kept")
    assert kept < 5 and kept * 10 < default, (default, kept)
