"""`GET /v1/admin/audit`: the staff audit log (any staff role), newest first, filtered by actor, action prefix,
target, source and dates; JSON, or CSV with `?format=csv` or `Accept: text/csv`. The console's audit page
(api/pages/console.py) reads the same through `query_from` and `core.audit`."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from api.auth import Principal, require_role
from core import audit
from core.db import engine_for

router = APIRouter(tags=["admin"])
staff = require_role("operator", "finance")
MAX_PAGE = 500
MAX_EXPORT = 50_000


@dataclass(frozen=True)
class AuditQuery:
    actor: str | None = None
    action: str | None = None
    target: str | None = None
    source: str | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None  # inclusive

    def params(self) -> dict:
        """The filters as the URL carries them (for links to the next page and to the CSV)."""
        values = {"actor": self.actor, "action": self.action, "target": self.target, "source": self.source,
                  "from": self.date_from and self.date_from.isoformat(),
                  "to": self.date_to and self.date_to.isoformat()}
        return {key: value for key, value in values.items() if value}

    def search(self, engine, limit: int, offset: int = 0) -> list[dict]:
        since = dt.datetime.combine(self.date_from, dt.time(), dt.UTC) if self.date_from else None
        until = dt.datetime.combine(self.date_to + dt.timedelta(days=1), dt.time(), dt.UTC) if self.date_to else None
        return audit.search(engine, actor=self.actor, action=self.action, target=self.target, source=self.source,
                            since=since, until=until, limit=limit, offset=offset)


def _invalid(field: str, message: str) -> HTTPException:
    return HTTPException(422, detail={"code": "validation_error", "field": field, "message": f"{field}: {message}"})


def _date(value: str | None, field: str) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise _invalid(field, f"{value!r} is not a date (YYYY-MM-DD)") from None


def query_from(actor: str | None, action: str | None, target: str | None, source: str | None,
               date_from: str | None, date_to: str | None) -> AuditQuery:
    """Validated filters (422 naming the field); empty values mean no filter."""
    if source and source not in audit.SOURCES:
        raise _invalid("source", f"one of {', '.join(audit.SOURCES)}")
    start, end = _date(date_from, "from"), _date(date_to, "to")
    if start and end and start > end:
        raise _invalid("from", "the range starts after it ends")
    clean = [(value or "").strip()[:200] or None for value in (actor, action, target)]
    return AuditQuery(*clean, source or None, start, end)


def csv_response(rows: list[dict]) -> PlainTextResponse:
    name = f"audit-{dt.datetime.now(dt.UTC):%Y%m%d-%H%M%S}.csv"
    return PlainTextResponse(audit.as_csv(rows), media_type="text/csv",
                             headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _json(row: dict) -> dict:
    return {**row, "at": row["at"].isoformat()}


@router.get("/v1/admin/audit", summary="The staff audit log: who did what, when, before and after (staff)",
            responses={200: {"content": {"text/csv": {}}}})
async def list_audit(request: Request, actor: str | None = Query(None, max_length=200),
                     action: str | None = Query(None, max_length=200, description="a prefix: `pricing_rule.`"),
                     target: str | None = Query(None, max_length=200),
                     source: str | None = Query(None, max_length=20),
                     date_from: str | None = Query(None, alias="from", max_length=10),
                     date_to: str | None = Query(None, alias="to", max_length=10),
                     limit: int = Query(100, ge=1, le=MAX_PAGE), offset: int = Query(0, ge=0, le=10_000_000),
                     fmt: str | None = Query(None, alias="format", pattern="^(json|csv)$"),
                     principal: Principal = Depends(staff)) -> Response:
    query = query_from(actor, action, target, source, date_from, date_to)
    engine = engine_for(request.app.state.endpoints.database_url)
    if fmt == "csv" or (fmt is None and "text/csv" in request.headers.get("accept", "")):
        return csv_response(await run_in_threadpool(query.search, engine, MAX_EXPORT))
    rows = await run_in_threadpool(query.search, engine, limit + 1, offset)
    return JSONResponse({"items": [_json(row) for row in rows[:limit]], "limit": limit, "offset": offset,
                         "next_offset": offset + limit if len(rows) > limit else None})
