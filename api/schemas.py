"""Request and response bodies of the partner API (`/v1`).

Requests forbid unknown fields (422 naming them). Responses are documented here for the OpenAPI
document; the hot routes serialise plain dicts that follow these models (a pydantic
response_model costs ~18 % on a 20-offer quote), and the tests validate responses against them.
Amounts are decimal strings with their currency; no float anywhere near money.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class CrossFieldError(ValueError):
    """A check across fields that one field fails: the validation error names `field` (inside the model's own
    place in the body) with `reason`, rather than the whole body."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


MAX_NIGHTS = 30
Currency = Field(pattern=r"^[A-Z]{3}$", description="ISO-4217 code")
Amount = Field(pattern=r"^-?\d+(\.\d+)?$", description="decimal string, never a float")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# --- errors -----------------------------------------------------------------------------------

class FieldError(BaseModel):
    field: str
    reason: str


class ErrorBody(BaseModel):
    model_config = ConfigDict(extra="allow")
    status: int
    code: str
    message: str
    traceId: str | None = None
    fields: list[FieldError] | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody


# --- auth -------------------------------------------------------------------------------------

class TokenRequest(Strict):
    client_id: str = Field(min_length=1, max_length=128)
    client_secret: str = Field(min_length=1, max_length=256)


class StaffTokenRequest(Strict):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["bearer"]
    expires_in: int


# --- money ------------------------------------------------------------------------------------

class MoneyOut(BaseModel):
    amount: str = Amount
    currency: str = Currency


class NightPrice(BaseModel):
    date: dt.date
    price: MoneyOut


class CancellationRuleOut(BaseModel):
    hours_before: int = Field(description="from this many hours before check-in onward")
    fee: MoneyOut


# --- quotes -----------------------------------------------------------------------------------

class QuoteRequest(Strict):
    city: str | None = Field(None, min_length=1, max_length=100)
    country: str | None = Field(None, pattern=r"^[A-Za-z]{2}$",
                                description="ISO 3166-1 alpha-2; narrows a city name found in several countries")
    hotel_ids: list[str] | None = Field(None, min_length=1, max_length=50)
    check_in: dt.date
    check_out: dt.date
    rooms: int = Field(1, ge=1, le=9)
    adults: int = Field(ge=1, le=36)
    children_ages: list[int] = Field(default_factory=list, max_length=12)
    currency: str | None = Field(None, pattern=r"^[A-Z]{3}$")
    sort: Literal["price", "recommended"] = Field(
        "price", description="price: cheapest first. recommended: by the platform's ranking weights "
                             "(`matching.algorithm.weights`: price, hotel rating, rooms left, supplier reliability)")

    @field_validator("currency", "country", mode="before")
    @classmethod
    def _upper(cls, value):
        return value.strip().upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _consistent(self) -> QuoteRequest:
        if (self.city is None) == (self.hotel_ids is None):
            raise CrossFieldError("city", "give exactly one of city or hotel_ids")
        if self.hotel_ids is not None and any(not h or len(h) > 64 for h in self.hotel_ids):
            raise CrossFieldError("hotel_ids", "each id must be 1 to 64 characters")
        if self.check_out <= self.check_in:
            raise CrossFieldError("check_out", "must be after check_in")
        if (self.check_out - self.check_in).days > MAX_NIGHTS:
            raise CrossFieldError("check_out", f"a stay is at most {MAX_NIGHTS} nights")
        if self.check_in < dt.date.today() - dt.timedelta(days=1):
            raise CrossFieldError("check_in", "is in the past")
        if self.check_in > dt.date.today() + dt.timedelta(days=730):
            raise CrossFieldError("check_in", "is more than two years ahead")
        if any(age < 0 or age > 17 for age in self.children_ages):
            raise CrossFieldError("children_ages", "each age must be 0 to 17")
        if self.adults < self.rooms:
            raise CrossFieldError("adults", "each room needs at least one adult")
        return self


class AlternativeOffer(BaseModel):
    """Another supplier's best offer of the same room product (same hotel, room group, board, refundability)."""

    offer_id: uuid.UUID
    hotel_id: str
    hotel_name: str
    room_type: str = Field(description="the room's normalised English name where it is mapped, else the "
                                       "supplier's name")
    room_name_local: str = Field(description="the supplier's own name of the room")
    room_group: str | None = Field(description="the room product across suppliers (null: not mapped yet)")
    board: str
    total_price: MoneyOut
    nightly: list[NightPrice]
    cancellation_policy: list[CancellationRuleOut]
    refundable: bool


class Offer(AlternativeOffer):
    """One room product: its best offer, and the other suppliers' offers of it, cheapest first."""

    alternatives: list[AlternativeOffer] = Field(default_factory=list)


class UnsellableReason(BaseModel):
    code: str = Field(description="`fx_rate_stale`: the exchange rate the offer needs is older than FX_MAX_AGE_DAYS")
    message: str = Field(description="e.g. `fx_rate_stale: USD→CNY rate set of 2026-11-28 is older than 3 days`")


class UnsellableOffer(BaseModel):
    """A room product the platform has but cannot sell now; it has no offer id and cannot be ordered."""

    hotel_id: str
    hotel_name: str
    room_type: str
    room_name_local: str
    room_group: str | None
    board: str
    refundable: bool
    sellable: bool = Field(False, description="always false")
    reason: UnsellableReason


class QuoteNotice(BaseModel):
    code: Literal["unknown_city", "unknown_hotels", "outside_inventory", "no_availability"] = Field(
        description="unknown_city: no hotel is sold in a city of that name (in that country, if given); "
                    "unknown_hotels: none of hotel_ids is sold; outside_inventory: the stay is outside the nights "
                    "whose rates are held; no_availability: no room is sellable for these nights, rooms and guests")
    message: str = Field(description="for a person: for unknown_city the closest city names, for "
                                     "outside_inventory the nights held")


class QuoteResponse(BaseModel):
    quote_id: uuid.UUID
    expires_at: dt.datetime
    check_in: dt.date
    check_out: dt.date
    rooms: int
    currency: str = Currency
    offers: list[Offer]
    unsellable_offers: list[UnsellableOffer] = Field(
        default_factory=list,
        description="Offers left out of `offers` because a rate they need is stale (each with the reason); "
                    "empty when every offer could be priced. Only in the answer to POST, not in a stored quote.")
    notice: QuoteNotice | None = Field(
        None, description="Only when `offers` and `unsellable_offers` are both empty: why. Only in the answer to "
                          "POST, not in a stored quote.")


# --- orders -----------------------------------------------------------------------------------

class Guest(Strict):
    first_name: str | None = Field(None, min_length=1, max_length=100)
    last_name: str | None = Field(None, min_length=1, max_length=100)
    name: str | None = Field(None, min_length=1, max_length=200, description="full name, if first/last are not given")
    title: str | None = Field(None, max_length=20)
    type: Literal["adult", "child"] | None = None
    age: int | None = Field(None, ge=0, le=120)

    @model_validator(mode="after")
    def _named(self) -> Guest:
        if not (self.first_name and self.last_name):
            if not self.name:
                raise CrossFieldError("name", "each guest needs first_name and last_name (or name)")
            parts = self.name.rsplit(" ", 1)
            self.first_name = self.first_name or parts[0]
            self.last_name = self.last_name or parts[-1]
        return self


class Contact(Strict):
    name: str | None = Field(None, min_length=1, max_length=200)
    email: str | None = Field(None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    phone: str | None = Field(None, pattern=r"^\+?[0-9 ()-]{5,30}$")

    @model_validator(mode="after")
    def _reachable(self) -> Contact:
        if not self.email and not self.phone:
            raise CrossFieldError("email", "contact needs an email or a phone")
        return self


class OrderRequest(Strict):
    offer_id: uuid.UUID
    guests: list[Guest] = Field(min_length=1, max_length=36)
    contact: Contact
    client_reference: str | None = Field(None, min_length=1, max_length=64)


class RiskOut(BaseModel):
    score: int
    held_for_review: bool


class OrderOut(BaseModel):
    order_id: uuid.UUID
    status: Literal["PENDING", "REVIEW", "CONFIRMED", "CANCELLED", "EXPIRED", "FAILED"]
    our_reference: str
    client_reference: str | None
    quote_id: uuid.UUID | None
    offer_id: uuid.UUID | None
    hotel_id: str
    hotel_name: str | None
    room_type: str | None = Field(description="the room's normalised English name where it is mapped, else the "
                                          "supplier's (as the offer showed it)")
    room_name_local: str | None = Field(None, description="the supplier's own name of the room")
    board: str | None
    check_in: dt.date
    check_out: dt.date
    rooms: int
    guests: list[Guest]
    contact: Contact
    total_price: MoneyOut
    cancellation_policy: list[CancellationRuleOut]
    refundable: bool
    cancellation_fee: MoneyOut | None
    confirmation_number: str | None = Field(description="the booking reference to give the hotel")
    expires_at: dt.datetime | None = Field(description="an unconfirmed order expires at this time")
    created_at: dt.datetime
    updated_at: dt.datetime


class OrderPage(BaseModel):
    items: list[OrderOut]
    next_cursor: str | None


class CancelRequest(Strict):
    reason: str | None = Field(None, max_length=500)


class ReviewDecision(Strict):
    decision: Literal["approve", "reject"]
    note: str | None = Field(None, max_length=500)
