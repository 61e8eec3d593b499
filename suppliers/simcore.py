"""What the three supplier simulators share: fault injection, the booking store, the admin API, and
running an ASGI app on a real port (uvicorn in a thread, or in a child process for `hotelctl up`).

Faults are switched at run time with `POST /_admin/faults` (JSON, fields of `Faults`); `times` limits
a fault to the next N matching calls, `operations` to some operations. `GET /_admin/stats` counts
calls per operation and bookings held, so a test can prove a booking was made exactly once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
import secrets
import socket
import threading
import time
from dataclasses import asdict, dataclass, field, fields, replace
from decimal import Decimal
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from suppliers.rates import RateBook
from suppliers.world import World


@dataclass
class Faults:
    latency_ms: int = 0  # added to every matching call
    timeout: float = 0.0  # share of calls that hang for `hang_ms` (the client times out)
    hang_ms: int = 30_000
    error_5xx: float = 0.0  # share of calls answered 503
    rate_limit: float = 0.0  # share of calls answered 429 with Retry-After
    retry_after_s: float = 1.0
    malformed: float = 0.0  # share of responses that are not valid JSON/XML at all
    truncated: float = 0.0  # share of responses cut in half
    negative_price: bool = False  # one record per availability response gets a negative price
    missing_field: bool = False  # one record per availability/content response loses a required field
    book_then_timeout: bool = False  # the booking is stored, then the response hangs for `hang_ms`
    price_change_pct: float = 0.0  # re-checks and bookings see prices moved by this much
    operations: list[str] = field(default_factory=list)  # empty: every operation
    times: int | None = None  # apply to the next N matching calls only

    def applies(self, operation: str) -> bool:
        return not self.operations or operation in self.operations


@dataclass
class StoredBooking:
    supplier_ref: str
    our_reference: str
    hotel_id: str
    room_code: str
    board: str
    rate_plan: str
    check_in: dt.date
    check_out: dt.date
    rooms: int
    total: Decimal
    currency: str
    refundable: bool
    guests: list
    status: str = "confirmed"  # confirmed | cancelled | no_show
    cancellation_fee: Decimal = Decimal("0.00")
    statement_amount: Decimal | None = None  # admin override: the supplier bills a different amount
    created_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    def nights(self) -> int:
        return (self.check_out - self.check_in).days

    def statement_line(self) -> dict[str, Any]:
        if self.status == "cancelled":
            status, amount = "cancelled", self.cancellation_fee
        else:
            status, amount = ("no_show" if self.status == "no_show" else "charged"), self.total
        if self.statement_amount is not None:
            amount = self.statement_amount
        return {"supplier_ref": self.supplier_ref, "our_reference": self.our_reference, "hotel_id": self.hotel_id,
                "check_in": self.check_in.isoformat(), "check_out": self.check_out.isoformat(), "status": status,
                "amount": str(amount), "currency": self.currency}


class SimState:
    """One simulator's world view, bookings, faults and counters (one event loop: no locks needed)."""

    def __init__(self, code: str, world: World, api_key: str, secret: str = "") -> None:
        self.code = code
        self.world = world
        self.rates = RateBook(world)
        self.hotels = world.supplier_hotels.get(code, [])
        self.hotel_by_id = {hotel.supplier_hotel_id: hotel for hotel in self.hotels}
        self.api_key = api_key
        self.secret = secret
        self.faults = Faults()
        self.random = random.Random(f"faults:{code}:{world.seed}")
        self.bookings: dict[str, StoredBooking] = {}
        self.by_reference: dict[str, str] = {}
        self.calls: dict[str, int] = {}
        self.booking_attempts = 0
        self.rate_limit_per_s = 0.0  # 0 = unlimited (C sets its own)
        self._window_start = time.monotonic()
        self._window_count = 0

    def new_ref(self, prefix: str) -> str:
        while True:
            ref = f"{prefix}{secrets.randbelow(10**8):08d}"
            if ref not in self.bookings:
                return ref

    def store(self, booking: StoredBooking) -> None:
        self.bookings[booking.supplier_ref] = booking
        self.by_reference[booking.our_reference] = booking.supplier_ref

    def find(self, our_reference: str) -> StoredBooking | None:
        ref = self.by_reference.get(our_reference)
        return self.bookings.get(ref) if ref else None

    def statement(self, start: dt.date, end: dt.date) -> list[dict[str, Any]]:
        """Lines for bookings checking out in [start, end): what the supplier bills for the period."""
        return [b.statement_line() for b in sorted(self.bookings.values(), key=lambda b: b.supplier_ref)
                if start <= b.check_out < end]

    def over_rate_limit(self) -> bool:
        if self.rate_limit_per_s <= 0:
            return False
        now = time.monotonic()
        if now - self._window_start >= 1.0:
            self._window_start, self._window_count = now, 0
        self._window_count += 1
        return self._window_count > self.rate_limit_per_s

    def _roll(self, share: float) -> bool:
        return share > 0 and self.random.random() < share

    def _consume(self) -> None:
        if self.faults.times is not None:
            self.faults.times -= 1
            if self.faults.times <= 0:
                self.faults = Faults()

    async def before(self, operation: str, error_response) -> Response | None:
        """Count the call and apply faults that answer before any work: latency, hang, 5xx, 429."""
        self.calls[operation] = self.calls.get(operation, 0) + 1
        if self.over_rate_limit():
            return error_response(429, "rate limit exceeded", {"Retry-After": "1"})
        faults = self.faults
        if not faults.applies(operation):
            return None
        if faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000)
        if self._roll(faults.timeout):
            self._consume()
            await asyncio.sleep(faults.hang_ms / 1000)
            return error_response(504, "upstream timeout", {})
        if self._roll(faults.error_5xx):
            self._consume()
            return error_response(503, "service unavailable", {})
        if self._roll(faults.rate_limit):
            self._consume()
            return error_response(429, "too many requests", {"Retry-After": f"{faults.retry_after_s:g}"})
        return None

    def mangle(self, operation: str, body: bytes) -> bytes:
        """Malformed or truncated payloads, after the work is done."""
        faults = self.faults
        if not faults.applies(operation):
            return body
        if self._roll(faults.malformed):
            self._consume()
            return b"<html><body>502 Bad Gateway</body></html>" if body[:1] in (b"{", b"[") else b"{\"oops\": "
        if self._roll(faults.truncated):
            self._consume()
            return body[: max(1, len(body) // 2)]
        return body

    def record_faults(self, operation: str) -> tuple[bool, bool]:
        """(negative_price, missing_field) for this response."""
        faults = self.faults
        if not faults.applies(operation):
            return False, False
        return faults.negative_price, faults.missing_field

    def price_factor(self) -> Decimal:
        return Decimal(1) + Decimal(str(self.faults.price_change_pct)) / 100

    def stay(self, hotel, check_in: dt.date, check_out: dt.date) -> list:
        """The world's nightly rates for a stay, moved by the price-change fault if it is on."""
        rates = self.rates.stay(hotel, check_in, check_out)
        factor = self.price_factor()
        if factor == 1:
            return rates
        return [replace(rate, amount=(rate.amount * factor).quantize(Decimal("0.01"))) for rate in rates]

    def stay_total(self, hotel, room_code: str, board: str, rate_plan: str, check_in: dt.date, check_out: dt.date,
                   rooms: int = 1) -> tuple[Decimal, str, int] | None:
        """(total, currency, minimum allotment) of one offer for a stay, or None if it is not offered."""
        nights = [rate for rate in self.stay(hotel, check_in, check_out)
                  if (rate.room_code, rate.board, rate.rate_plan) == (room_code, board, rate_plan)]
        if len(nights) != (check_out - check_in).days:
            return None
        total = sum((rate.amount for rate in nights), Decimal(0)) * rooms
        return total, nights[0].currency, min(rate.allotment for rate in nights)

    async def after_booking(self) -> None:
        """book-then-timeout: the booking is stored, then the answer never comes in time."""
        if self.faults.book_then_timeout and self.faults.applies("book"):
            self._consume()
            await asyncio.sleep(self.faults.hang_ms / 1000)


# ------------------------------------------------------------------ admin API


def admin_routes(state: SimState) -> list[Route]:
    """Admin endpoints, authorised by `X-Admin-Key: <the supplier API key>` on every simulator."""

    def authorised(request: Request) -> bool:
        return secrets.compare_digest(request.headers.get("x-admin-key", ""), state.api_key)

    async def get_faults(request: Request) -> Response:
        if not authorised(request):
            return JSONResponse({"error": "unauthorised"}, status_code=401)
        return JSONResponse(asdict(state.faults))

    async def set_faults(request: Request) -> Response:
        if not authorised(request):
            return JSONResponse({"error": "unauthorised"}, status_code=401)
        try:
            body = await request.json()
            known = {f.name for f in fields(Faults)}
            unknown = set(body) - known
            if unknown:
                return JSONResponse({"error": f"unknown fault fields: {sorted(unknown)}"}, status_code=400)
            state.faults = Faults(**body)
        except (ValueError, TypeError) as error:
            return JSONResponse({"error": str(error)}, status_code=400)
        return JSONResponse(asdict(state.faults))

    async def clear_faults(request: Request) -> Response:
        if not authorised(request):
            return JSONResponse({"error": "unauthorised"}, status_code=401)
        state.faults = Faults()
        return JSONResponse(asdict(state.faults))

    async def stats(request: Request) -> Response:
        if not authorised(request):
            return JSONResponse({"error": "unauthorised"}, status_code=401)
        return JSONResponse({"calls": state.calls, "bookings": len(state.bookings),
                             "booking_attempts": state.booking_attempts, "hotels": len(state.hotels),
                             "rate_limit_per_s": state.rate_limit_per_s})

    async def set_rate_limit(request: Request) -> Response:
        if not authorised(request):
            return JSONResponse({"error": "unauthorised"}, status_code=401)
        body = await request.json()
        state.rate_limit_per_s = float(body.get("per_second", 0))
        return JSONResponse({"rate_limit_per_s": state.rate_limit_per_s})

    async def adjust_booking(request: Request) -> Response:
        """Make the supplier's books differ from ours (for reconciliation): status, billed amount."""
        if not authorised(request):
            return JSONResponse({"error": "unauthorised"}, status_code=401)
        booking = state.bookings.get(request.path_params["ref"])
        if booking is None:
            return JSONResponse({"error": "no such booking"}, status_code=404)
        body = await request.json()
        if "status" in body:
            if body["status"] not in ("confirmed", "cancelled", "no_show"):
                return JSONResponse({"error": "status must be confirmed, cancelled or no_show"}, status_code=400)
            booking.status = body["status"]
        if "statement_amount" in body:
            booking.statement_amount = Decimal(str(body["statement_amount"]))
        return JSONResponse(booking.statement_line())

    return [
        Route("/_admin/faults", get_faults, methods=["GET"]),
        Route("/_admin/faults", set_faults, methods=["POST", "PUT"]),
        Route("/_admin/faults", clear_faults, methods=["DELETE"]),
        Route("/_admin/stats", stats, methods=["GET"]),
        Route("/_admin/rate-limit", set_rate_limit, methods=["POST"]),
        Route("/_admin/bookings/{ref}", adjust_booking, methods=["POST"]),
    ]


def json_response(payload: Any, state: SimState, operation: str, status_code: int = 200) -> Response:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=str).encode()
    return Response(state.mangle(operation, body), status_code=status_code, media_type="application/json")


def build_app(routes: list[Route], state: SimState) -> Starlette:
    from core.tracing import TraceContinuation

    app = Starlette(routes=routes)
    app.state.sim = state
    app.add_middleware(TraceContinuation, service=f"supplier-{state.code}")  # the caller's trace goes on here
    return app


# ------------------------------------------------------------------ running on a real port


class RunningSimulator:
    """A simulator served by uvicorn in a background thread on 127.0.0.1 and an ephemeral port."""

    def __init__(self, code: str, app: Starlette, host: str = "127.0.0.1", port: int = 0) -> None:
        self.code = code
        self.app = app
        self.state: SimState = app.state.sim
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        self._socket = sock
        self.host, self.port = sock.getsockname()[:2]
        config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off",
                                timeout_graceful_shutdown=1, loop="auto")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name=f"supplier-sim-{code}", daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _run(self) -> None:
        self._server.run(sockets=[self._socket])

    def start(self, timeout_s: float = 10.0) -> RunningSimulator:
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"supplier simulator {self.code} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=5)

    def __enter__(self) -> RunningSimulator:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()
