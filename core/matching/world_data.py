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


def harder(data: LabelledSet, seed: int, phone_drop: float = 0.5, jitter_m: float = 150.0,
           swapped_share: float = 0.01) -> LabelledSet:
    """A harsher copy of a labelled set than the world gives (`suppliers.world.roughened`: phones dropped,
    coordinates geocoded to the street, a few with latitude and longitude swapped)."""
    from suppliers.world import roughened

    return LabelledSet(data.catalog, roughened(data.suppliers, seed, phone_drop, jitter_m, swapped_share), data.truth)


def write_contract_csvs(data: LabelledSet, directory) -> None:
    """catalog.csv and supplier.csv in the `hotelctl match` contract, and truth.csv (the answer key)."""
    import csv
    from pathlib import Path

    from core.matching.csvio import CATALOG_COLUMNS, SUPPLIER_COLUMNS

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)

    def cell(value) -> str:
        return "" if value is None else str(value)

    with open(directory / "catalog.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CATALOG_COLUMNS)
        for h in data.catalog:
            writer.writerow([cell(getattr(h, column)) for column in CATALOG_COLUMNS])
    with open(directory / "supplier.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(SUPPLIER_COLUMNS)
        for h in data.suppliers:
            writer.writerow([cell(getattr(h, column)) for column in SUPPLIER_COLUMNS])
    with open(directory / "truth.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(("supplier_code", "supplier_hotel_id", "hotel_id"))
        for (code, hotel_id), true_id in data.truth.items():
            writer.writerow((code, hotel_id, cell(true_id)))
