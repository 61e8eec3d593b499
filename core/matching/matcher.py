"""The weighted-score matcher: block, pre-score cheaply, score the best few fully, decide.

Features (each in [0, 1], or None when either side lacks the data; a missing feature drops out of
the weighted mean instead of counting as a mismatch):
- name: best of token-sort, compact-string and token-set similarity over the catalog's English and
  local (transliterated) names, and a direct comparison in the local script.
- core: agreement of the distinguishing words (no brand, generic or city words): "Pudong" vs
  "Hongqiao" is 0 even when the rest of two sibling names is identical.
- geo: exp(-(d - 50 m) / 500 m).
- address: token similarity of the addresses, lowered when the house numbers differ.
- phone: 1 when the national numbers agree, 0 when both are known and differ.
- star: 1 - |Δ| / 2.   city: similarity of the city names.
- name_idf (feature flag `matching.ai.boost`): cosine of IDF-weighted name tokens, the weights learnt
  from the catalog itself, so rare words (a district, a qualifier) count far more than chain words.

Decision: auto when the best score reaches `auto`, beats the runner-up by `margin`, and the guards
hold (a name that agrees or a phone that agrees, not kilometres apart without a phone that agrees,
no conflicting distinguishing words without a phone that agrees); review when it reaches `review`;
otherwise new. Also new: the best candidate has another phone number *and* another address while
the names are not identical (a sibling, not this hotel), or another address and another name with no
phone to compare.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import numpy as np
from rapidfuzz import fuzz, process

from core.collector import collector_paused
from core.matching.config import MatcherConfig
from core.matching.parallel import can_fork, fork_map, slices
from core.matching.prepare import (
    CoreWords,
    PreparedCatalog,
    Side,
    block,
    distances_m,
    geo_block,
    prepare_catalog,
    prepare_suppliers,
)
from core.matching.records import Candidate, CatalogHotel, MatchDecision, SupplierHotel

PRELIM_KEEP = 5
PARALLEL_MIN_CHUNK = 2000
GEO_KEEP = 30  # nearest catalog hotels kept from the geo block before name scoring


def _name_similarity(sup: Side, i: int, cat: Side, j: int) -> float:
    best = 0.0
    for s_str, s_cmp in sup.names[i]:
        if not s_str:
            continue
        for c_str, c_cmp in cat.names[j]:
            if not c_str:
                continue
            sort = fuzz.token_sort_ratio(s_str, c_str)
            compact = fuzz.ratio(s_cmp, c_cmp)
            tset = fuzz.token_set_ratio(s_str, c_str)
            best = max(best, sort, compact, (tset + sort) / 2)
    for s_raw in sup.raw_local[i]:
        for c_raw in cat.raw_local[j]:
            best = max(best, fuzz.ratio(s_raw, c_raw))
    return best / 100.0


def _core_pair(a: CoreWords, b: CoreWords) -> float | None:
    words_a, set_a, sorted_a, joined_a = a
    words_b, set_b, sorted_b, joined_b = b
    if not words_a and not words_b:
        return None
    if not words_a or not words_b:
        return 0.5
    if set_a == set_b:
        return 1.0
    if fuzz.ratio(sorted_a, sorted_b, score_cutoff=90) or fuzz.ratio(joined_a, joined_b, score_cutoff=90):
        return 1.0  # the same words split differently ("long shuijing" / "longshui jing")
    matched = 0
    for token in words_a:
        if token in set_b or process.extractOne(token, words_b, scorer=fuzz.ratio, score_cutoff=80) is not None:
            matched += 1
    return matched / max(len(words_a), len(words_b))


def _core_similarity(a: list[CoreWords], b: list[CoreWords]) -> float | None:
    values = [v for x in a for y in b if (v := _core_pair(x, y)) is not None]
    return max(values) if values else None


def _address_similarity(sup: Side, i: int, cat: Side, j: int) -> float | None:
    if not sup.addresses[i] or not cat.addresses[j]:
        return None
    best = 0.0
    for s in sup.addresses[i]:
        for c in cat.addresses[j]:
            best = max(best, (fuzz.token_set_ratio(s, c) + fuzz.token_sort_ratio(s, c)) / 2)
    sim = best / 100.0
    a, b = sup.numbers[i], cat.numbers[j]
    if a and b:
        sim = min(1.0, sim + 0.15) if a & b else sim * 0.6
    return sim


def _idf_cosine(a: list[str], b: list[str], idf: dict[str, float], default: float) -> float:
    weight_a = {t: idf.get(t, default) for t in a}
    weight_b = {t: idf.get(t, default) for t in b}
    shared = 0.0
    for t, w in weight_a.items():
        if t in weight_b:
            shared += w * weight_b[t]
        elif len(t) > 3:
            best = max((fuzz.ratio(t, o, score_cutoff=88) for o in weight_b), default=0.0)
            if best:
                other = next(o for o in weight_b if fuzz.ratio(t, o) == best)
                shared += w * weight_b[other] * best / 100.0
    norm = math.sqrt(sum(w * w for w in weight_a.values()) * sum(w * w for w in weight_b.values()))
    return min(1.0, shared / norm) if norm else 0.0


def _idf_similarity(sup: Side, i: int, cat: Side, j: int, catalog: PreparedCatalog) -> float | None:
    """Cosine of IDF-weighted name words (best pair of name variants); weights learnt from the catalog."""
    best: float | None = None
    for s_str, _ in sup.names[i]:
        for c_str, _ in cat.names[j]:
            if s_str and c_str:
                value = _idf_cosine(s_str.split(), c_str.split(), catalog.idf, catalog.default_idf)
                best = value if best is None else max(best, value)
    return best


def _city_similarity(sup: Side, i: int, cat: Side, j: int) -> float | None:
    if not sup.cities[i] or not cat.cities[j]:
        return None
    return max(fuzz.ratio(a, b) for a in sup.cities[i] for b in cat.cities[j]) / 100.0


class Matcher:
    """Matches supplier hotels onto one prepared catalog (prepare once, match many times)."""

    def __init__(self, catalog: Sequence[CatalogHotel], config: MatcherConfig | None = None) -> None:
        self.config = config or MatcherConfig()
        with collector_paused():
            self.catalog = prepare_catalog(catalog)
        weights = dict(self.config.weights)
        if not self.config.ai_boost:
            weights.pop("name_idf", None)
        self.weights = {k: v for k, v in weights.items() if v > 0}

    def match(self, hotels: Sequence[SupplierHotel], workers: int = 1,
              keep_candidates: bool = True) -> list[MatchDecision]:
        """Decisions in input order. `workers` > 1 forks that many processes (the catalog is shared
        copy-on-write) for inputs large enough to pay for it. Without `keep_candidates` a decision
        carries no candidate list (the CSV contract needs none; the review queue does)."""
        with collector_paused():
            if workers > 1 and len(hotels) >= 4 * PARALLEL_MIN_CHUNK and can_fork():
                parts = fork_map(_match_slice, (self, hotels, keep_candidates),
                                 slices(len(hotels), workers * 4, PARALLEL_MIN_CHUNK), workers)
                return [d for part in parts for d in part]
            sup = prepare_suppliers(hotels, self.catalog)
            decisions = [self._decide(hotels[i], sup, i) for i in range(len(hotels))]
        if not keep_candidates:
            for decision in decisions:
                decision.candidates = []
        return decisions

    # ------------------------------------------------------------------ scoring

    def _features(self, sup: Side, i: int, j: int, distance_m: float, phone_equal: bool
                  ) -> dict[str, float | None]:
        cat = self.catalog.side
        name = _name_similarity(sup, i, cat, j)
        core = _core_similarity(sup.core_words[i], cat.core_words[j])
        if sup.foreign[i] and not cat.raw_local[j]:
            # a name in another script and no local name to compare with: only a close name tells anything
            core = None
            if name < 0.8:
                name = None
        city = _city_similarity(sup, i, cat, j)
        if city is not None and city < 0.8 and sup.local_city[i] != cat.local_city[j]:
            city = None
        address = _address_similarity(sup, i, cat, j)
        phone = (1.0 if phone_equal else 0.0) if sup.phone[i] and cat.phone[j] else None
        geo = None if math.isnan(distance_m) else math.exp(-max(0.0, distance_m - 50.0) / 500.0)
        if geo is not None and distance_m > 2000 and (phone == 1.0 or ((name or 0) >= 0.9 and (address or 0) >= 0.95)):
            geo = None  # the supplier's coordinates are grossly wrong; the other signals agree
        features: dict[str, float | None] = {
            "name": name, "core": core, "geo": geo, "address": address, "phone": phone,
            "star": None if math.isnan(sup.star[i]) or math.isnan(cat.star[j])
            else max(0.0, 1.0 - abs(float(sup.star[i]) - float(cat.star[j])) / 2.0),
            "city": city,
        }
        if "name_idf" in self.weights:
            features["name_idf"] = None if name is None else _idf_similarity(sup, i, cat, j, self.catalog)
        return features

    def _score(self, features: dict[str, float | None]) -> tuple[float, dict[str, float]]:
        weights = self.weights
        present = [(k, weights[k], v) for k, v in features.items() if v is not None and k in weights]
        total = sum([weight for _, weight, _ in present])
        if total <= 0:
            return 0.0, {}
        contributions = {k: weight * v / total for k, weight, v in present}
        return sum(contributions.values()), contributions

    def candidates(self, sup: Side, i: int) -> list[Candidate]:
        catalog = self.catalog
        cat = catalog.side
        others, phone_hits = block(catalog, sup, i)
        near = geo_block(catalog, sup.lat[i], sup.lon[i])
        if len(near) > GEO_KEEP:
            # dense city centres hold hundreds of hotels per cell: keep the nearest few
            d = distances_m(catalog, sup.lat[i], sup.lon[i], near)
            near = near[np.argpartition(d, GEO_KEEP)[:GEO_KEEP]]
        if others:  # sorted and unique, as np.union1d gives it (half the cost for a few dozen rows)
            rows = np.array(sorted(others.union(near.tolist())), dtype=np.int64)
        else:
            rows = near
        if len(rows) == 0:
            return []
        distances = distances_m(catalog, sup.lat[i], sup.lon[i], rows)
        names = process.cdist([sup.prelim[i]], catalog.prelim[rows],
                              scorer=fuzz.token_set_ratio, dtype=np.float32)[0] / 100.0
        geo = np.where(np.isnan(distances), 0.3, np.exp(-np.maximum(distances - 50.0, 0.0) / 500.0))
        code = catalog.country_ids.get(sup.country[i], -1)
        same_country = (catalog.country_code[rows] == code) if sup.country[i] else np.ones(len(rows), dtype=bool)
        prelim = (names + geo) * np.where(same_country, 1.0, 0.3)
        keep = set(np.argsort(-prelim)[:PRELIM_KEEP].tolist())
        if phone_hits:
            keep.update(k for k, j in enumerate(rows.tolist()) if j in phone_hits)
        result: list[Candidate] = []
        for k in keep:
            j = int(rows[k])
            d = float(distances[k])
            features = self._features(sup, i, j, d, j in phone_hits)
            score, contributions = self._score(features)
            if not same_country[k]:
                score *= 0.5
            result.append(Candidate(cat.ids[j], score, features, contributions,
                                    None if math.isnan(d) else round(d, 1), j))
        result.sort(key=lambda c: -c.score)
        return result[: self.config.candidates_kept]

    # ------------------------------------------------------------------ deciding

    def _decide(self, hotel: SupplierHotel, sup: Side, i: int) -> MatchDecision:
        t = self.config.thresholds
        candidates = self.candidates(sup, i)
        decision = MatchDecision(hotel.supplier_code, hotel.supplier_hotel_id, "new", None, 0.0,
                                 "no candidate nearby or by name/phone", candidates)
        if not candidates:
            return decision
        best = candidates[0]
        runner_up = candidates[1].score if len(candidates) > 1 else 0.0
        decision.score = best.score
        f = best.features
        phone_agrees = f.get("phone") == 1.0
        if best.score < t["review"]:
            decision.reason = f"best score {best.score:.3f} below review threshold {t['review']}"
            return decision
        if f.get("phone") == 0.0 and (f.get("address") or 0) < t["max_address_new"] and not (
                (f["name"] or 0) >= 0.95 and f.get("core") == 1.0):
            # another phone number at another address, and the name is not the same: another hotel
            decision.reason = "phone and address differ from the best candidate"
            return decision
        if f.get("phone") is None and (f.get("address") or 1.0) < t["min_address_auto"] and (f["name"] or 0) < 0.9:
            decision.reason = "another address and another name than the best candidate, no phone to say otherwise"
            return decision
        reasons = []
        if best.score < t["auto"]:
            reasons.append(f"score {best.score:.3f} below auto threshold {t['auto']}")
        if best.score - runner_up < t["margin"]:
            reasons.append(f"runner-up within {best.score - runner_up:.3f}")
        # the same street and house number within a few hundred metres (geo None: coordinates grossly off)
        same_place = (f["address"] or 0) >= 0.95 and (f["geo"] is None or f["geo"] >= 0.5)
        if f["name"] is None and not (phone_agrees or same_place):
            reasons.append("name not comparable, no agreeing phone or address")
        elif f["name"] is not None and f["name"] < t["min_name_auto"] and not phone_agrees:
            reasons.append("weak name without an agreeing phone")
        strong_text = (f["name"] or 0) >= 0.9 and (f["address"] or 0) >= 0.95
        if best.distance_m is not None and best.distance_m > t["max_km_auto"] * 1000 and not (
                phone_agrees or strong_text):
            reasons.append("far apart without an agreeing phone")
        if (f.get("address") is not None and f["address"] < t["min_address_auto"] and not phone_agrees
                and not strong_text):
            reasons.append("addresses differ")
        if sup.name_numbers[i] != self.catalog.side.name_numbers[best.row] and not phone_agrees:
            reasons.append("numbers in the names differ")
        if f.get("core") == 0.0 and not phone_agrees:
            reasons.append("distinguishing words differ")
        if f.get("phone") == 0.0 and (f.get("core") or 0) < 1.0:
            reasons.append("phone differs")
        if reasons:
            decision.decision, decision.reason = "review", "; ".join(reasons)
        else:
            decision.decision, decision.hotel_id, decision.reason = "auto", best.hotel_id, "all signals agree"
        return decision


def _match_slice(state: tuple[Matcher, Sequence[SupplierHotel], bool], bounds: tuple[int, int]
                 ) -> list[MatchDecision]:
    matcher, hotels, keep_candidates = state
    return matcher.match(hotels[bounds[0]:bounds[1]], keep_candidates=keep_candidates)


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 4))


def match_hotels(catalog: Sequence[CatalogHotel], suppliers: Sequence[SupplierHotel],
                 config: MatcherConfig | None = None) -> list[MatchDecision]:
    return Matcher(catalog, config).match(suppliers)
