"""Holds apart from the supplier's allotment: `availability.held` and `inventory_holds`.

`availability.allotment` is now only what the supplier reported at the last sync; the rooms our orders
hold are counted in `availability.held`, one `inventory_holds` row per order and night behind it.
Sellable = greatest(allotment - held, 0). A sync rewrites `allotment` and never `held`; a hold leaves
when its order ends, or when a sync fetched the supplier's count after the booking was confirmed (the
supplier's number then includes it). `orders.hold_flagged_at`: when a sync lowered the allotment below
what this order holds, for an operator to look at.

Orders holding rooms when this revision runs: PENDING and REVIEW ones keep a hold (counted again until
the next sync writes the supplier's number), CONFIRMED ones are taken as known to their supplier.

Revision ID: 0020a_inventory_holds
Revises: 0007_quote_offer_sets
"""

from alembic import op

revision = "0020a_inventory_holds"
down_revision = "0007_quote_offer_sets"
branch_labels = None
depends_on = None

UPGRADE = """
ALTER TABLE availability ADD COLUMN held INTEGER NOT NULL DEFAULT 0 CHECK (held >= 0);
ALTER TABLE orders ADD COLUMN hold_flagged_at TIMESTAMPTZ;

CREATE TABLE inventory_holds (
    order_id     UUID NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
    room_type_id BIGINT NOT NULL,
    stay_date    DATE NOT NULL,
    rooms        INTEGER NOT NULL CHECK (rooms > 0),
    booked_at    TIMESTAMPTZ,
    PRIMARY KEY (order_id, stay_date),
    FOREIGN KEY (room_type_id, stay_date) REFERENCES availability (room_type_id, stay_date) ON DELETE CASCADE
);
CREATE INDEX inventory_holds_night ON inventory_holds (room_type_id, stay_date);

INSERT INTO inventory_holds (order_id, room_type_id, stay_date, rooms)
SELECT o.id, o.room_type_id, a.stay_date, o.rooms
FROM orders o JOIN availability a ON a.room_type_id = o.room_type_id
 AND a.stay_date >= o.check_in AND a.stay_date < o.check_out
WHERE o.status IN ('PENDING', 'REVIEW');

UPDATE availability a SET held = s.rooms
FROM (SELECT room_type_id, stay_date, sum(rooms) AS rooms FROM inventory_holds GROUP BY 1, 2) s
WHERE a.room_type_id = s.room_type_id AND a.stay_date = s.stay_date;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS inventory_holds")
    op.execute("ALTER TABLE orders DROP COLUMN IF EXISTS hold_flagged_at")
    op.execute("ALTER TABLE availability DROP COLUMN IF EXISTS held")
