"""What the three supplier simulators share: fault injection, the booking store, the admin API, and
running an ASGI app on a real port (uvicorn in a thread, or in a child process for `hotelctl up`).

Faults are switched at run time with `POST /_admin/faults` (JSON, fields of `Faults`); `times` limits
a fault to the next N matching calls, `operations` to some operations. `GET /_admin/stats` counts
calls per operation and bookings held, so a test can prove a booking was made exactly once.

The supplier counts its bookings: a confirmed booking takes its rooms off the allotment every later
availability, re-check and booking sees, a cancellation gives them back, and a booking that does not fit is
refused. `POST /_admin/allotment` sets a room's allotment over some nights (before bookings), `GET` reads
allotment, rooms sold and rooms left; `POST /_admin/reprice` moves the price of a seeded share of the rates (a
supplier's revenue manager at work).

Delta feed: every change (booking, cancellation, allotment, price) notes when it touched a room's night, and an
availability request may ask for what changed since a time ("changed since" cursors, as real suppliers offer
them): only those rooms' nights come back, and the answer says it is a delta. A time before the simulator
started gets everything (what it knew before is lost). `POST /_admin/features {"delta_feed": false}` makes it a
supplier that offers no delta: the parameter is ignored and every answer is whole.
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

import mmh3
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
        self.sold: dict[tuple[str, str, dt.date], int] = {}  # (hotel, room, night) → rooms of live bookings
        self.allotments: dict[tuple[str, str, dt.date], int] = {}  # admin overrides of the world's allotment
        self.repriced: dict[tuple[str, str, str, str, dt.date], Decimal] = {}  # rate → price factor
        self.started_at = time.time()
        self.delta_feed = True
        self.changed: dict[str, dict[tuple[str, dt.date], float]] = {}  # hotel → (room, night) → when it changed
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
        if booking.status != "cancelled":
            self._count(booking, booking.rooms)

    def set_status(self, booking: StoredBooking, status: str) -> None:
        """Change a booking's status; leaving or re-entering "cancelled" gives back or takes its rooms."""
        if (booking.status == "cancelled") != (status == "cancelled"):
            self._count(booking, -booking.rooms if status == "cancelled" else booking.rooms)
        booking.status = status

    def _count(self, booking: StoredBooking, rooms: int) -> None:
        day = booking.check_in
        while day < booking.check_out:
            key = (booking.hotel_id, booking.room_code, day)
            self.sold[key] = self.sold.get(key, 0) + rooms
            self.touch(*key)
            day += dt.timedelta(days=1)

    def set_allotment(self, hotel_id: str, room_code: str, night: dt.date, allotment: int) -> None:
        """The room's allotment on this night before bookings (instead of the world's)."""
        self.allotments[(hotel_id, room_code, night)] = allotment
        self.touch(hotel_id, room_code, night)

    def touch(self, hotel_id: str, room_code: str, night: dt.date) -> None:
        """Note that this room's rates or allotment on this night changed now (for the delta feed)."""
        self.changed.setdefault(hotel_id, {})[(room_code, night)] = time.time()

    def delta_since(self, changed_since: str | None) -> float | None:
        """The time a request's `changed_since` (ISO 8601) asks for, or None: answer with everything."""
        if not changed_since or not self.delta_feed:
            return None
        since = dt.datetime.fromisoformat(changed_since)
        if since.tzinfo is None:
            raise ValueError("changed_since needs a time zone")
        # HTTP dates have whole seconds: a client's cursor from this simulator's first second is still its own.
        return since.timestamp() if since.timestamp() >= int(self.started_at) else None

    def allotment_of(self, hotel_id: str, room_code: str, night: dt.date, world_allotment: int) -> tuple[int, int]:
        """(allotment before bookings, rooms sold) of one room on one night."""
        key = (hotel_id, room_code, night)
        return self.allotments.get(key, world_allotment), self.sold.get(key, 0)
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
        """The world's nightly rates for a stay, less the rooms booked, with admin changes, moved by the
        price-change fault if it is on."""
        return self._adjusted(hotel.supplier_hotel_id, self.rates.stay(hotel, check_in, check_out))

    def _adjusted(self, hotel_id: str, rates: list) -> list:
        factor = self.price_factor()
        if factor == 1 and not self.sold and not self.allotments and not self.repriced:
            return rates
        changed = []
        for rate in rates:
            night = (hotel_id, rate.room_code, rate.stay_date)
            allotment = max(0, self.allotments.get(night, rate.allotment) - self.sold.get(night, 0))
            moved = factor * self.repriced.get((*night[:2], rate.board, rate.rate_plan, rate.stay_date), Decimal(1))
            if moved == 1 and allotment == rate.allotment:
                changed.append(rate)
            else:
                amount = rate.amount if moved == 1 else (rate.amount * moved).quantize(Decimal("0.01"))
                changed.append(replace(rate, amount=amount, allotment=allotment))
        return changed

    def stay_since(self, hotel, check_in: dt.date, check_out: dt.date, since: float | None) -> list:
        """`stay`, or with `since` only the nights of rooms that changed at or after it."""
        if since is None:
            return self.stay(hotel, check_in, check_out)
        changes = self.changed.get(hotel.supplier_hotel_id)
        if not changes:
            return []
        nights = sorted({night for (_, night), when in changes.items()
                         if when >= since and check_in <= night < check_out})
        rates = [rate for night in nights for rate in self.rates.nightly(hotel, night)
                 if changes.get((rate.room_code, night), 0.0) >= since]
        return self._adjusted(hotel.supplier_hotel_id, rates)

    def reprice(self, share: float, pct: float, salt: str, start: dt.date, end: dt.date) -> int:
        """Move the price of a seeded `share` of the rates in [start, end) by `pct` percent; returns how many."""
        moved = 0
        factor = Decimal(1) + Decimal(str(pct)) / 100
        for hotel in self.hotels:
            for rate in self.rates.stay(hotel, start, end):
                key = (hotel.supplier_hotel_id, rate.room_code, rate.board, rate.rate_plan, rate.stay_date)
                if mmh3.hash(f"{salt}:{key}", signed=False) < share * 2**32:
                    self.repriced[key] = self.repriced.get(key, Decimal(1)) * factor
                    self.touch(hotel.supplier_hotel_id, rate.room_code, rate.stay_date)
                    moved += 1
        return moved

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
                             "rooms_sold": sum(state.sold.values()),
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
            state.set_status(booking, body["status"])
        if "statement_amount" in body:
            booking.statement_amount = Decimal(str(body["statement_amount"]))
        return JSONResponse(booking.statement_line())

    def _room_nights(source) -> tuple[str, str, list[dt.date]]:
        hotel_id, room_code = str(source["hotel_id"]), str(source["room_code"])
        if hotel_id not in state.hotel_by_id:
            raise ValueError(f"no hotel {hotel_id}")
        start, end = dt.date.fromisoformat(str(source["from"])), dt.date.fromisoformat(str(source["to"]))
        if not start < end <= start + dt.timedelta(days=366):
            raise ValueError("to must be after from, within a year")
        return hotel_id, room_code, [start + dt.timedelta(days=i) for i in range((end - start).days)]

    async def set_allotment(request: Request) -> Response:
        """{"hotel_id", "room_code", "from", "to", "allotment"}: the room's allotment before bookings."""
        if not authorised(request):
            return JSONResponse({"error": "unauthorised"}, status_code=401)
        try:
            body = await request.json()
            hotel_id, room_code, nights = _room_nights(body)
            allotment = int(body["allotment"])
            if allotment < 0:
                raise ValueError("allotment must not be negative")
        except (KeyError, TypeError, ValueError) as error:
            return JSONResponse({"error": str(error)}, status_code=400)
        for night in nights:
            state.set_allotment(hotel_id, room_code, night, allotment)
        return await get_allotment(request, body)

    async def get_allotment(request: Request, source=None) -> Response:
        """?hotel_id&room_code&from&to: per night the allotment, the rooms sold and the rooms left."""
        if not authorised(request):
            return JSONResponse({"error": "unauthorised"}, status_code=401)
        try:
            hotel_id, room_code, nights = _room_nights(source or request.query_params)
        except (KeyError, TypeError, ValueError) as error:
            return JSONResponse({"error": str(error)}, status_code=400)
        world = {(rate.room_code, rate.stay_date): rate.allotment
                 for rate in state.rates.stay(state.hotel_by_id[hotel_id], nights[0], nights[-1] + dt.timedelta(1))}
        rows = []
        for night in nights:
            allotment, sold = state.allotment_of(hotel_id, room_code, night, world.get((room_code, night), 0))
            rows.append({"date": night.isoformat(), "allotment": allotment, "sold": sold,
                         "left": max(0, allotment - sold)})
        return JSONResponse({"hotel_id": hotel_id, "room_code": room_code, "nights": rows})

    async def reprice(request: Request) -> Response:
        """{"share": 0.05, "pct": 3, "salt": "any", "from", "to"}: move a seeded share of the rates' prices."""
        if not authorised(request):
            return JSONResponse({"error": "unauthorised"}, status_code=401)
        try:
            body = await request.json()
            share, pct = float(body["share"]), float(body["pct"])
            start, end = dt.date.fromisoformat(str(body["from"])), dt.date.fromisoformat(str(body["to"]))
            if not 0 <= share <= 1 or not start < end:
                raise ValueError("share must be in [0, 1] and to after from")
        except (KeyError, TypeError, ValueError) as error:
            return JSONResponse({"error": str(error)}, status_code=400)
        moved = state.reprice(share, pct, str(body.get("salt", "")), start, end)  # on the loop: state has no locks
        return JSONResponse({"rates_repriced": moved})

    async def set_features(request: Request) -> Response:
        """{"delta_feed": bool}: what this supplier's API offers."""
        if not authorised(request):
            return JSONResponse({"error": "unauthorised"}, status_code=401)
        try:
            body = await request.json()
        except ValueError as error:
            return JSONResponse({"error": f"not JSON: {error}"}, status_code=400)
        if not isinstance(body, dict) or not isinstance(body.get("delta_feed", True), bool):
            return JSONResponse({"error": "delta_feed must be true or false"}, status_code=400)
        state.delta_feed = body.get("delta_feed", state.delta_feed)
        return JSONResponse({"delta_feed": state.delta_feed})

    return [
        Route("/_admin/features", set_features, methods=["POST"]),
        Route("/_admin/allotment", set_allotment, methods=["POST"]),
        Route("/_admin/allotment", get_allotment, methods=["GET"]),
        Route("/_admin/reprice", reprice, methods=["POST"]),
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
    from core.tracing import asgi_tracing

    app = Starlette(routes=routes)
    app.state.sim = state
    # The caller's trace goes on here (a no-op while tracing is off).
    asgi_tracing(app, f"supplier-{state.code}", span_prefix=f"supplier-{state.code} ", always=True)
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
