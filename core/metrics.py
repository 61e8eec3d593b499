"""Prometheus metrics shared by the API, the adapters and the pipelines."""

from prometheus_client import Counter, Histogram

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
