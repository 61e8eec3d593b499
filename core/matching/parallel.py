"""Matching work split over forked processes.

Forked workers inherit the prepared catalog copy-on-write, so nothing large is pickled to them.
"""

from __future__ import annotations

import gc
import multiprocessing as mp
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

_STATE: Any = None


def can_fork() -> bool:
    return "fork" in mp.get_all_start_methods()


def fork_map(function: Callable[[Any, T], R], state: Any, items: Sequence[T], workers: int) -> list[R]:
    """[function(state, item) for item in items] over `workers` forked processes, in order."""
    global _STATE
    _STATE = state
    try:
        gc.freeze()  # the inherited objects stay out of the children's collections (and their pages shared)
        with mp.get_context("fork").Pool(workers) as pool:
            return pool.map(_call, [(function, item) for item in items], chunksize=1)
    finally:
        gc.unfreeze()
        _STATE = None


def _call(job: tuple[Callable[[Any, T], R], T]) -> R:
    function, item = job
    return function(_STATE, item)


def slices(total: int, parts: int, minimum: int) -> list[tuple[int, int]]:
    """[start, end) bounds cutting `total` rows into about `parts` slices of at least `minimum` rows."""
    size = max(minimum, -(-total // max(parts, 1)))
    return [(start, min(start + size, total)) for start in range(0, total, size)]
