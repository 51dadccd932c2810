"""The allocator setting: on glibc the mmap threshold is fixed, so a large array freed
goes back to the system at once."""

import sys

import numpy as np
import pytest

from engine.util import memory


def _rss_kb() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator only")
def test_a_freed_large_array_goes_back_to_the_system():
    if not memory.tune_allocator():
        pytest.skip("not glibc (mallopt missing)")
    assert memory.tune_allocator()  # once is enough; asking again is harmless
    big = np.ones(4 * 2**20 // 8)
    del big  # untuned, glibc would now keep blocks up to 4 MB on its heaps
    before = _rss_kb()
    blocks, pins = [], []
    for _ in range(50):  # 100 MB in 2 MB arrays, each followed by a small one kept
        blocks.append(np.ones(2 * 2**20 // 8))
        pins.append(np.ones(1000))
    held = _rss_kb()
    del blocks  # untuned: all 100 MB stay resident (measured: +102 MB after the del)
    after = _rss_kb()
    assert held - before > 90_000
    assert after - before < 20_000  # given back when freed, not kept on the heap
    memory.give_back_freed()  # does not fail
