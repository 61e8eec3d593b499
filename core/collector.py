"""The cyclic garbage collector: paused around bulk work, kept off a long-running server's caches.

Bulk steps (matching a catalog, syncing a supplier's inventory) build millions of small objects
that hold no reference cycles and are freed by reference counting alone. While they are alive,
each generation-2 pass of the collector walks all of them again (and every module object), which
measured ~40 % of the catalog preparation and ~25 % of an inventory sync. Pausing the collector
for the step removes that; whatever cyclic garbage the step leaves is collected once it resumes.

A server is the other case: its caches fill for minutes after it starts (an API worker holds over a million
tracked objects after a few thousand distinct quotes), and every full collection walked them all again, a pause of
50–335 ms in the middle of requests, measured as the quote p99 spikes of `hotelctl bench api`. While
`survivors_frozen` is open, what survives each full collection moves to the permanent generation, so the next
one walks only what was allocated since. The cost is that a frozen object that later becomes part of an unreachable
cycle is not reclaimed; what is alive at a full collection is nearly all cache, and the soak
(`hotelctl bench api --soak`) measures a worker's growth over minutes.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

_FULL = 2  # the oldest generation: a collection of it is a full collection


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic collector (reference counting still frees everything acyclic); restore it after."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@contextmanager
def survivors_frozen() -> Iterator[None]:
    """Within: after every full collection (the first one now), freeze what survived it."""
    gc.callbacks.append(_freeze_after_full)
    gc.collect()
    try:
        yield
    finally:
        gc.callbacks.remove(_freeze_after_full)


def _freeze_after_full(phase: str, info: dict) -> None:
    if phase == "stop" and info["generation"] == _FULL:
        gc.freeze()
