"""A sync over archived answers: the supplier's adapter, its contracts and the writes of a live sync, with an httpx
transport that answers each request from the archive instead of the supplier.

A request is looked up by its canonical form (`recorder.request_key`), so a replay asks exactly what the live
sync asked: the same window and hotel batches (both archived with the answers). It asks whole feeds (no
changed-since), which a delta run's answers also satisfy; a request the archive cannot answer fails its batch,
named in the result. Replayed calls are not logged as supplier calls: no supplier was called.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

import httpx

from core.archive.recorder import canonical_request, request_key
from core.archive.store import FeedArchive
from core.inventory.sync import SupplierSyncResult, sync_content, sync_inventory
from core.settings import Settings
from core.suppliers.breaker import CircuitBreaker
from core.suppliers.registry import build_adapter

REPLAY_URL = "http://archive.invalid"


class ArchiveTransport(httpx.AsyncBaseTransport):
    """Answers from archived responses, by request key (a successful answer over a failed attempt)."""

    def __init__(self, responses: list[dict]) -> None:
        self._answers: dict[str, dict] = {}
        for row in sorted(responses, key=lambda row: row["seq"]):
            current = self._answers.get(row["request_key"])
            if current is None or row["status"] < 400 or current["status"] >= 400:
                self._answers[row["request_key"]] = row
        self.missing: list[str] = []
        self.answered = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        row = self._answers.get(request_key(request))
        if row is None:
            self.missing.append(canonical_request(request)[:300])
            return httpx.Response(404, json={"error": "not in the raw-feed archive"}, request=request)
        self.answered += 1
        headers = {name: value for name, value in (("content-type", row["content_type"]),
                                                   ("date", row["date_header"])) if value}
        return httpx.Response(row["status"], headers=headers, content=row["body"], request=request)


@dataclass
class ReplayedRun:
    supplier: str
    feed: str
    archived_run_id: str
    result: SupplierSyncResult
    answered: int = 0
    missing: list[str] = field(default_factory=list)

    def metadata(self) -> dict:
        return {"supplier": self.supplier, "feed": self.feed, "archived_run_id": self.archived_run_id,
                "status": self.result.status, "answers_replayed": self.answered, "requests_missing": len(self.missing),
                "first_missing": self.missing[:3], "rows_fetched": self.result.rows_fetched,
                "rows_written": self.result.rows_upserted, "rows_quarantined": self.result.rows_quarantined}


@dataclass
class Replay:
    day: dt.date
    runs: list[ReplayedRun] = field(default_factory=list)

    @property
    def results(self) -> dict[str, SupplierSyncResult]:
        """The last replayed run's result per supplier (the shape a live sync returns)."""
        return {run.supplier: run.result for run in self.runs}

    def metadata(self) -> dict:
        return {"day": self.day.isoformat(), "runs_replayed": len(self.runs),
                "requests_missing": sum(len(run.missing) for run in self.runs),
                "runs": [run.metadata() for run in self.runs]}


def archived_runs(archive: FeedArchive, day: dt.date, feed: str, only: list[str] | None = None
                  ) -> list[tuple[str, str, list[dict]]]:
    """(supplier, archived run id, its responses) of `feed` on `day`, in the order the runs started."""
    runs = []
    for supplier in archive.suppliers():
        if only and supplier not in only:
            continue
        rows = [row for row in archive.read("responses", supplier, day).to_pylist() if row["feed"] == feed]
        by_run: dict[str, list[dict]] = defaultdict(list)
        for row in rows:
            by_run[row["run_id"]].append(row)
        runs.extend((supplier, run_id, run_rows) for run_id, run_rows in by_run.items())
    return sorted(runs, key=lambda run: min(row["received_at"] for row in run[2]))


def _adapter(code: str, settings: Settings, responses: list[dict]):
    adapter = build_adapter(code, REPLAY_URL, settings, api_key="archived", secret="archived", database_url=None,
                            breaker=CircuitBreaker(code, failure_threshold=1_000_000))
    adapter.http.transport = ArchiveTransport(responses)
    return adapter


async def _replay(settings: Settings, database_url: str, feed: str, code: str, responses: list[dict],
                  run_id: str | None, max_bad_share: float) -> ReplayedRun:
    adapter = _adapter(code, settings, responses)
    first = responses[0]
    try:
        if feed == "content":
            result = await sync_content(database_url, adapter, run_id)
        else:
            start, end = first["window_start"], first["window_end"]
            result = await sync_inventory(database_url, adapter, start, (end - start).days, run_id=run_id,
                                          batch_hotels=first["batch_hotels"], max_bad_share=max_bad_share,
                                          delta=False)
    finally:
        await adapter.aclose()
    transport = adapter.http.transport
    return ReplayedRun(code, feed, first["run_id"], result, transport.answered, transport.missing)


def replay_day(settings: Settings, database_url: str, archive: FeedArchive, day: dt.date, feed: str = "inventory",
               *, run_id: str | None = None, only: list[str] | None = None, max_bad_share: float = 0.05) -> Replay:
    """Every archived `feed` sync of `day` (each supplier's runs in order) replayed into `database_url`."""
    replay = Replay(day)
    # Fast answers, no waiting: a missing answer is a 404 (never retried), and the archive needs no budget.
    settings = settings.model_copy(update={"retry_backoff_ms": 0, "query_timeout_ms": 600_000})
    for code, _archived_run, responses in archived_runs(archive, day, feed, only):
        replay.runs.append(asyncio.run(_replay(settings, database_url, feed, code, responses, run_id,
                                               max_bad_share)))
    return replay
