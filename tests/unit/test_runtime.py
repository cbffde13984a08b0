"""GC tuning of long-running processes."""

from __future__ import annotations

import gc

from entrypoints.runtime import GC_GEN0_THRESHOLD, tune_gc


def test_tune_gc_freezes_the_startup_heap_and_raises_the_young_threshold() -> None:
    before = gc.get_threshold()
    try:
        tune_gc()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (GC_GEN0_THRESHOLD, before[1], before[2])
        assert gc.isenabled()
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
