"""Prometheus metrics shared by the API, the adapters and the pipelines."""

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter(
    "http_requests_total", "HTTP requests served", ["service", "route", "method", "status"]
)
HTTP_DURATION = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency",
    ["service", "route", "method", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5),
)

QUOTE_CACHE_LOOKUPS = Counter(
    "quote_cache_lookups_total", "Lookups of each cache on the quote path, by outcome", ["cache", "result"]
)

# Set each time an API process loads its exchange-rate table (`core.fx.FxCache`, and on every /metrics scrape).
# FxRatesStale fires while the first exceeds the second (deploy/prometheus/alerts.yml).
FX_RATES_AGE_DAYS = Gauge(
    "fx_rates_age_days", "Age in days (UTC) of the newest exchange-rate set quotes price from (NaN: none loaded)",
    multiprocess_mode="livemax")
FX_RATES_MAX_AGE_DAYS = Gauge(
    "fx_rates_max_age_days", "FX_MAX_AGE_DAYS: beyond this age, offers needing a conversion are not sold",
    multiprocess_mode="livemax")


class CacheLookups:
    """Hit and miss counters of one cache on the quote path (label children bound once)."""

    def __init__(self, cache: str) -> None:
        self.hit = QUOTE_CACHE_LOOKUPS.labels(cache, "hit")
        self.miss = QUOTE_CACHE_LOOKUPS.labels(cache, "miss")

    def count(self, hits: int, misses: int) -> None:
        if hits:
            self.hit.inc(hits)
        if misses:
            self.miss.inc(misses)
