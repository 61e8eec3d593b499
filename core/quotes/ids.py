"""Quote and offer ids: an offer's id is its quote's with the offer's rank + 1 in the last two bytes, so an offer
id names its quote (`quote_of_offer`) and an order finds the offer through the quote's key."""

from __future__ import annotations

import os
import uuid


def new_quote_id() -> tuple[uuid.UUID, str]:
    """A random quote id whose last two bytes are zero, and the text its offers' ids start with."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    raw[14] = raw[15] = 0
    head = raw[:14].hex()
    return uuid.UUID(bytes=bytes(raw)), f"{head[:8]}-{head[8:12]}-{head[12:16]}-{head[16:20]}-{head[20:]}"


def offer_id_suffix(rank: int) -> str:
    return f"{rank + 1:04x}"


def new_quote_ids(offers: int) -> tuple[uuid.UUID, list[str]]:
    """A new quote id and the ids of its `offers` offers."""
    quote_id, prefix = new_quote_id()
    return quote_id, [prefix + offer_id_suffix(rank) for rank in range(offers)]


def quote_of_offer(offer_id: uuid.UUID) -> uuid.UUID:
    return uuid.UUID(bytes=offer_id.bytes[:14] + b"\0\0")
