"""Process-level runtime tuning for long-running processes (``serve``, ``worker``)."""

from __future__ import annotations

import gc

# Allocations between young collections (CPython's default is 700). A model call allocates
# thousands of short-lived objects (HTTP, JSON, validation), so with the default the
# collector ran young collections, and every hundredth a full one, many times a second.
GC_GEN0_THRESHOLD = 5_000


def tune_gc() -> None:
    """Call once the process has loaded its code and opened its services.

    ``gc.freeze`` moves everything alive now (modules, the app, the container, compiled
    schemas) to a permanent generation that collections no longer walk; the higher young
    threshold makes collections rarer. Cycles are still collected. A perf profile of the
    server during a 1,000-item batch put ~13 % of its CPU in the collector before this
    (docs/benchmarks.md §7).
    """
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)
