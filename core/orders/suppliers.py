"""The supplier adapter an order books through, one per supplier per process (connection reuse).

`adapter_for` reads its base URL and key from the environment or the `suppliers` table (sync I/O),
so it is built in a thread once and kept on the app state.
"""

from __future__ import annotations

import asyncio

from core.suppliers.models import SupplierError


async def adapter(state, code: str):
    adapters = getattr(state, "supplier_adapters", None)
    if adapters is None:
        adapters = state.supplier_adapters = {}
    found = adapters.get(code)
    if found is None:
        from core.suppliers.registry import UnknownSupplier, adapter_for

        try:
            found = await asyncio.to_thread(adapter_for, code, state.settings)
        except UnknownSupplier as error:
            raise SupplierError(code, "connect", str(error), transient=True) from None
        adapters[code] = found
    return found


async def close_adapters(state) -> None:
    for found in (getattr(state, "supplier_adapters", None) or {}).values():
        close = getattr(found, "aclose", None)
        if close is not None:
            await close()
    state.supplier_adapters = {}
