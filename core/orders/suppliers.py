"""The supplier adapter an order books through, one per supplier per process (connection reuse).

`adapter_for` reads its base URL and key from the environment or the `suppliers` table (sync I/O),
so it is built in a thread once and kept on the app state.
"""

from __future__ import annotations

import asyncio

from core.suppliers.models import SupplierError


async def adapter(state, code: str):
    """The supplier's adapter, built again after any change to `suppliers` (a rotated key, a new base URL)."""
    caches = getattr(state, "quote_caches", None)
    version = caches.suppliers_version if caches is not None else 0
    adapters = getattr(state, "supplier_adapters", None)
    if adapters is not None and getattr(state, "supplier_adapters_version", 0) != version:
        # Bookings in flight keep the old adapters: they are closed once those have long finished.
        _close_later(list(adapters.values()))
        adapters = None
    if adapters is None:
        adapters = state.supplier_adapters = {}
        state.supplier_adapters_version = version
    found = adapters.get(code)
    if found is None:
        from core.suppliers.registry import UnknownSupplier, adapter_for

        try:
            found = await asyncio.to_thread(adapter_for, code, state.settings)
        except UnknownSupplier as error:
            raise SupplierError(code, "connect", str(error), transient=True) from None
        adapters[code] = found
    return found


def _close_later(old: list, delay_s: float = 120.0) -> None:
    async def close() -> None:
        await asyncio.sleep(delay_s)
        for found in old:
            if (aclose := getattr(found, "aclose", None)) is not None:
                await aclose()

    task = asyncio.get_running_loop().create_task(close())
    _closing.add(task)
    task.add_done_callback(_closing.discard)


_closing: set = set()


async def close_adapters(state) -> None:
    for found in (getattr(state, "supplier_adapters", None) or {}).values():
        close = getattr(found, "aclose", None)
        if close is not None:
            await close()
    state.supplier_adapters = {}
