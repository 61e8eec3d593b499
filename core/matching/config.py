"""Matcher weights and thresholds: defaults here, overrides from `platform_config`.

Keys (env-specific rows win over 'production'):
- `matching.scoring.weights`: feature → weight, e.g. {"name": 0.3, "geo": 0.2, ...}
- `matching.thresholds`: {"auto": 0.8, "review": 0.5, "margin": 0.08, ...}
The seeded `matching.algorithm.weights` row holds the best-offer *ranking* weights (see ranking.py).
Feature flag `matching.ai.boost` turns on the IDF-weighted name signal (see features.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy.engine import Engine

ALGORITHMS = ("weighted_score",)
WEIGHTS_KEY = "matching.scoring.weights"
THRESHOLDS_KEY = "matching.thresholds"
AI_BOOST_FLAG = "matching.ai.boost"

DEFAULT_WEIGHTS: dict[str, float] = {
    "name": 0.30, "core": 0.10, "geo": 0.20, "address": 0.15, "phone": 0.15, "star": 0.05, "city": 0.05,
    "name_idf": 0.20,  # only with matching.ai.boost
}
DEFAULT_THRESHOLDS: dict[str, float] = {
    "auto": 0.80,  # best candidate's score needed for an automatic match
    "review": 0.55,  # below this the hotel is new
    "margin": 0.08,  # best must beat the runner-up by this much, else review
    "min_name_auto": 0.55,  # no automatic match on a weak name unless the phone agrees
    "max_km_auto": 2.0,  # no automatic match this far apart unless the phone agrees
    "min_address_auto": 0.6,  # no automatic match onto another address unless the phone agrees
    "max_address_new": 0.7,  # phone differs and address below this (names not identical): new
}


@dataclass(frozen=True)
class MatcherConfig:
    algorithm: str = "weighted_score"
    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    thresholds: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))
    ai_boost: bool = False
    candidates_kept: int = 5

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"MATCHING_ALGORITHM: unknown algorithm {self.algorithm!r}; "
                             f"known: {', '.join(ALGORITHMS)}")
        t = self.thresholds
        if not 0 <= t["review"] <= t["auto"] <= 1:
            raise ValueError(f"{THRESHOLDS_KEY}: need 0 <= review <= auto <= 1, got {t}")
        if any(w < 0 for w in self.weights.values()):
            raise ValueError(f"{WEIGHTS_KEY}: weights must not be negative")

    def with_overrides(self, weights: dict[str, Any] | None, thresholds: dict[str, Any] | None,
                       **changes: Any) -> MatcherConfig:
        w = dict(self.weights)
        w.update({k: float(v) for k, v in (weights or {}).items() if k in DEFAULT_WEIGHTS})
        t = dict(self.thresholds)
        t.update({k: float(v) for k, v in (thresholds or {}).items() if k in DEFAULT_THRESHOLDS})
        return replace(self, weights=w, thresholds=t, **changes)


def load_matcher_config(engine: Engine | None, env: str = "production", algorithm: str = "weighted_score",
                        ai_boost: bool | None = None) -> MatcherConfig:
    """Defaults, overridden by platform_config rows and the feature flag when a database is given."""
    base = MatcherConfig(algorithm=algorithm, ai_boost=bool(ai_boost))
    if engine is None:
        return base
    from core.config import flag_enabled, load_config

    config = load_config(engine, env)
    boost = flag_enabled(engine, AI_BOOST_FLAG) if ai_boost is None else ai_boost
    return base.with_overrides(config.get(WEIGHTS_KEY), config.get(THRESHOLDS_KEY), ai_boost=boost)
