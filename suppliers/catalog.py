"""Seeding the master catalog (`master_hotels`) from a world, for embedded start-up and tests."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.engine import Engine

from suppliers.world import World

COLUMNS = ("id", "name", "name_local", "address", "address_local", "city", "country", "lat", "lon", "star",
           "phone", "brand", "source")


def seed_master_catalog(engine: Engine, world: World, source: str = "world") -> int:
    """Insert the world's master hotels that are not in the catalog yet; returns how many were new."""
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cursor:
            cursor.execute("CREATE TEMP TABLE _seed_master (LIKE master_hotels INCLUDING DEFAULTS) ON COMMIT DROP")
            with cursor.copy(f"COPY _seed_master ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                for hotel in world.master_hotels:
                    copy.write_row((hotel.hotel_id, hotel.name, hotel.name_local, hotel.address, hotel.address_local,
                                    hotel.city, hotel.country, Decimal(str(hotel.lat)), Decimal(str(hotel.lon)),
                                    None if hotel.star is None else Decimal(str(hotel.star)), hotel.phone,
                                    hotel.brand, source))
            cursor.execute(f"INSERT INTO master_hotels ({', '.join(COLUMNS)}) SELECT {', '.join(COLUMNS)} "
                           "FROM _seed_master ON CONFLICT (id) DO NOTHING")
            inserted = cursor.rowcount
        raw.commit()
    finally:
        raw.close()
    return inserted
