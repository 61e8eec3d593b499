"""Taps a sync's adapters: every HTTP answer the sync receives and every row parsed from them, written to the
archive when the sync ends (one file per supplier, kind and sync).

The request is stored canonically (JSON keys sorted, XML re-serialised) without what changes between otherwise
equal requests (a delta feed's changed-since) or what must not be kept (supplier B's password in the message):
its hash, `request_key`, is what a replay looks an answer up by.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

import httpx

from core.archive.store import ArchiveWrite, FeedArchive

VOLATILE = {"changedSince", "changed_since", "ChangedSince"}  # asked differently by a replay, same answer
SECRET = {"MessagePassword", "password", "api_key", "apiKey"}


def canonical_request(request: httpx.Request) -> str:
    """`METHOD path?sorted-query` and the body, canonical, without volatile or secret fields."""
    query = "&".join(f"{k}={v}" for k, v in sorted(request.url.params.multi_items()))
    body = request.content or b""
    text = ""
    if body.lstrip().startswith(b"<"):
        root = ET.fromstring(body)
        for element in root.iter():
            for name in list(element.attrib):
                if name in VOLATILE or name in SECRET:
                    del element.attrib[name]
        text = ET.tostring(root, encoding="unicode")
    elif body:
        try:
            payload = json.loads(body)
        except ValueError:
            text = body.decode("utf-8", "replace")
        else:
            if isinstance(payload, dict):
                payload = {k: v for k, v in payload.items() if k not in VOLATILE and k not in SECRET}
            text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return f"{request.method} {request.url.path}?{query}\n{text}"


def request_key(request: httpx.Request) -> str:
    return hashlib.sha256(canonical_request(request).encode()).hexdigest()


@dataclass
class FeedRecorder:
    """What one supplier's sync received, until `write`."""

    supplier: str
    feed: str
    window: tuple[dt.date, dt.date] | None = None
    batch_hotels: int | None = None
    started_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    responses: list[dict] = field(default_factory=list)
    rates: list[dict] = field(default_factory=list)
    hotels: list[dict] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def response(self, operation: str, response: httpx.Response) -> None:
        request = response.request
        canonical = canonical_request(request)
        body = response.content
        with self._lock:
            self.responses.append({
                "seq": len(self.responses), "received_at": dt.datetime.now(dt.UTC), "operation": operation,
                "method": request.method, "path": request.url.path,
                "query": "&".join(f"{k}={v}" for k, v in sorted(request.url.params.multi_items())),
                "request": canonical.split("\n", 1)[1], "request_key": hashlib.sha256(canonical.encode()).hexdigest(),
                "status": response.status_code, "date_header": response.headers.get("date"),
                "content_type": response.headers.get("content-type"), "body": body, "bytes": len(body),
                "window_start": self.window[0] if self.window else None,
                "window_end": self.window[1] if self.window else None, "batch_hotels": self.batch_hotels,
            })

    def tap(self, adapter) -> None:
        """Record `adapter`'s HTTP answers and the rows it parses (until the adapter is dropped)."""
        from core.suppliers.models import NightlyRate, SupplierHotel

        adapter.http.tap = self.response
        availability, content = adapter.availability, adapter.content

        async def recorded_availability(*args, **kwargs):
            async for item in availability(*args, **kwargs):
                if isinstance(item, NightlyRate):
                    self.rates.append({
                        "supplier_hotel_id": item.supplier_hotel_id, "room_code": item.room_code,
                        "room_name": item.room_name, "board": item.board, "rate_plan": item.rate_plan,
                        "stay_date": item.stay_date, "net_amount": item.net.amount, "currency": item.net.currency,
                        "allotment": item.allotment, "refundable": item.refundable, "rate_key": item.rate_key})
                yield item

        async def recorded_content(*args, **kwargs):
            async for item in content(*args, **kwargs):
                if isinstance(item, SupplierHotel):
                    self.hotels.append({
                        "supplier_hotel_id": item.supplier_hotel_id, "name": item.name, "address": item.address,
                        "city": item.city, "country": item.country, "lat": item.lat, "lon": item.lon,
                        "star": item.star, "phone": item.phone})
                yield item

        adapter.availability, adapter.content = recorded_availability, recorded_content

    def write(self, archive: FeedArchive, run_id: str | None, sync_run_id: int | None) -> ArchiveWrite:
        """The recorded answers and rows as Parquet under the supplier and the day the sync started."""
        run = run_id or f"adhoc-{uuid.uuid4().hex[:12]}"
        day = self.started_at.date()
        common = {"run_id": run, "sync_run_id": sync_run_id, "supplier": self.supplier, "day": day}
        written = ArchiveWrite()
        for kind, rows in (("responses", self.responses), ("rates", self.rates), ("hotels", self.hotels)):
            rows = [{**row, **common} | ({"feed": self.feed} if kind == "responses" else {}) for row in rows]
            path = archive.write(kind, self.supplier, day, self.feed, run, rows)
            if path:
                written.files.append(path)
        written.responses, written.rates, written.hotels = len(self.responses), len(self.rates), len(self.hotels)
        written.bytes = sum(row["bytes"] for row in self.responses)
        return written
