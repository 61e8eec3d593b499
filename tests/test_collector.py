"""The collector kept off a server's caches: survivors of a full collection are frozen, garbage is still reclaimed."""

from __future__ import annotations

import gc
import weakref

import pytest

from core.collector import survivors_frozen


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def cycle() -> Node:
    first, second = Node(), Node()
    first.other, second.other = second, first
    return first


@pytest.fixture
def unfrozen():
    gc.unfreeze()
    yield
    gc.unfreeze()  # what the test froze goes back to the collector


def test_a_full_collection_reclaims_the_garbage_then_freezes_what_survived(unfrozen) -> None:
    with survivors_frozen():
        assert gc.get_freeze_count() > 0  # entering collected once and froze what was alive
        cache = {"entry": cycle()}  # lives on, like a cache entry
        dropped = weakref.ref(cycle())  # cyclic garbage: only the collector can reclaim it
        assert dropped() is not None
        frozen_before = gc.get_freeze_count()

        gc.collect()

        assert dropped() is None
        assert gc.get_freeze_count() > frozen_before
        assert not any(obj is cache for obj in gc.get_objects())  # out of the next collections' walk


def test_young_collections_and_collections_after_leaving_freeze_nothing(unfrozen) -> None:
    with survivors_frozen():
        gc.unfreeze()
        gc.collect(0)
        assert gc.get_freeze_count() == 0
    kept = cycle()
    gc.collect()
    assert gc.get_freeze_count() == 0
    assert any(obj is kept for obj in gc.get_objects())  # still in the collector's walk, not frozen
