"""Labelled matching data from the simulated supplier world (`suppliers.world.generate_world`)."""

from __future__ import annotations

from dataclasses import dataclass

from core.matching.records import CatalogHotel, SupplierHotel


@dataclass
class LabelledSet:
    catalog: list[CatalogHotel]
    suppliers: list[SupplierHotel]
    truth: dict[tuple[str, str], str | None]


def labelled_set(seed: int, hotels: int, suppliers: tuple[str, ...] = ("A", "B", "C"), coverage: float = 0.7,
                 catalog_local_fields: bool = False) -> LabelledSet:
    """Catalog and supplier hotels with ground truth. `catalog_local_fields` keeps the catalog's local
    address and city (the database has them; the CSV contract does not)."""
    from suppliers.world import generate_world

    world = generate_world(seed, hotels, suppliers=suppliers, coverage=coverage)
    catalog = [
        CatalogHotel(h.hotel_id, h.name, h.name_local, h.address, h.city, h.country, h.lat, h.lon, h.star, h.phone,
                     h.address_local if catalog_local_fields else None,
                     h.city_local if catalog_local_fields else None)
        for h in world.master_hotels
    ]
    rows = [
        SupplierHotel(h.supplier_code, h.supplier_hotel_id, h.name, h.address, h.city, h.country, h.lat, h.lon,
                      h.star, h.phone)
        for code in suppliers for h in world.supplier_hotels.get(code, [])
    ]
    return LabelledSet(catalog, rows, world.truth())
