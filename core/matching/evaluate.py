"""Measuring a matcher against ground truth, and the plain baseline it must beat.

Baseline: the nearest catalog hotel within 500 m whose name has a fuzzy ratio >= 80 is an automatic
match; otherwise new. No review band.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from rapidfuzz import fuzz, utils

from core.matching.prepare import haversine_m
from core.matching.records import CatalogHotel, MatchDecision, SupplierHotel


@dataclass(frozen=True)
class Metrics:
    hotels: int
    auto: int
    review: int
    new: int
    precision: float  # of auto decisions, the share matched to the right master hotel
    recall: float  # of supplier hotels that have a master hotel, the share auto-matched correctly
    review_rate: float
    new_kept_apart: float  # of supplier-only hotels, the share not auto-matched to any master hotel
    new_decided_new: float  # of supplier-only hotels, the share decided "new"
    wrong_auto: int

    def as_dict(self) -> dict:
        return self.__dict__.copy()


def evaluate(decisions: Sequence[MatchDecision], truth: Mapping[tuple[str, str], str | None]) -> Metrics:
    auto = review = new = correct = wrong = 0
    matchable = only = only_apart = only_new = 0
    for d in decisions:
        true_id = truth[(d.supplier_code, d.supplier_hotel_id)]
        if true_id is None:
            only += 1
            only_apart += d.decision != "auto"
            only_new += d.decision == "new"
        else:
            matchable += 1
        if d.decision == "auto":
            auto += 1
            if d.hotel_id == true_id:
                correct += 1
            else:
                wrong += 1
        elif d.decision == "review":
            review += 1
        else:
            new += 1
    n = max(len(decisions), 1)
    return Metrics(
        hotels=len(decisions), auto=auto, review=review, new=new,
        precision=correct / auto if auto else 1.0, recall=correct / matchable if matchable else 1.0,
        review_rate=review / n, new_kept_apart=only_apart / only if only else 1.0,
        new_decided_new=only_new / only if only else 1.0, wrong_auto=wrong,
    )


def baseline_match(catalog: Sequence[CatalogHotel], suppliers: Sequence[SupplierHotel],
                   radius_m: float = 500.0, min_ratio: float = 80.0) -> list[MatchDecision]:
    """Nearest catalog hotel within `radius_m` with fuzz.ratio(name) >= `min_ratio`, else new."""
    cell = radius_m / 111_320.0
    grid: dict[tuple[int, int], list[int]] = defaultdict(list)
    lat = np.array([h.lat if h.lat is not None else np.nan for h in catalog])
    lon = np.array([h.lon if h.lon is not None else np.nan for h in catalog])
    names = [utils.default_process(h.name or "") for h in catalog]
    for j in np.flatnonzero(~np.isnan(lat)).tolist():
        grid[(math.floor(lat[j] / cell), math.floor(lon[j] / cell))].append(j)
    decisions = []
    for h in suppliers:
        chosen, score = None, 0.0
        if h.lat is not None and h.lon is not None:
            r, c = math.floor(h.lat / cell), math.floor(h.lon / cell)
            lon_span = math.ceil(1 / max(math.cos(math.radians(h.lat)), 0.05))
            rows = [j for dr in (-1, 0, 1) for dc in range(-lon_span, lon_span + 1)
                    for j in grid.get((r + dr, c + dc), ())]
            if rows:
                idx = np.array(rows)
                dist = haversine_m(h.lat, h.lon, lat[idx], lon[idx])
                name = utils.default_process(h.name or "")
                for k in np.argsort(dist):
                    if dist[k] > radius_m:
                        break
                    ratio = fuzz.ratio(name, names[idx[k]])
                    if ratio >= min_ratio:
                        chosen, score = catalog[idx[k]].hotel_id, ratio / 100.0
                        break
        decisions.append(MatchDecision(h.supplier_code, h.supplier_hotel_id, "auto" if chosen else "new", chosen,
                                       score, "baseline"))
    return decisions
