"""Room mappings: each supplier room of a mapped hotel with its room class, bed type and room group (the rooms
of one master hotel that are the same product across suppliers), score, auto/review and the operator's
decision (`same_as`: the room the operator said it is, whose group it follows). Read by master hotel
(`room_types_for`), so indexed by it.

Revision ID: 0025_room_mappings
Revises: 0007_quote_offer_sets
"""

from alembic import op

revision = "0025_room_mappings"
down_revision = "0007_quote_offer_sets"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
CREATE TABLE room_mappings (
    id                 BIGSERIAL PRIMARY KEY,
    room_type_id       BIGINT NOT NULL UNIQUE REFERENCES room_types(id) ON DELETE CASCADE,
    master_hotel_id    TEXT NOT NULL REFERENCES master_hotels(id) ON DELETE CASCADE,
    supplier_code      TEXT NOT NULL,
    supplier_hotel_id  TEXT NOT NULL,
    supplier_room_code TEXT NOT NULL,
    supplier_name      TEXT NOT NULL,
    room_group         TEXT NOT NULL,
    room_class         TEXT NOT NULL CHECK (room_class IN ('standard', 'superior', 'deluxe', 'premium', 'executive',
                                           'junior suite', 'suite', 'family', 'studio', 'apartment', 'villa',
                                           'other')),
    bed_type           TEXT NOT NULL CHECK (bed_type IN ('king', 'queen', 'double', 'twin', 'single', 'other',
                                                         'unknown')),
    name_en            TEXT NOT NULL,
    view               TEXT,
    smoking            TEXT,
    score              NUMERIC(5,4) NOT NULL CHECK (score >= 0 AND score <= 1),
    decision           TEXT NOT NULL CHECK (decision IN ('auto', 'review')),
    status             TEXT NOT NULL CHECK (status IN ('machine', 'pending_review', 'accepted', 'overridden')),
    reason             TEXT NOT NULL DEFAULT '',
    input_hash         TEXT NOT NULL,
    decided_by         TEXT NOT NULL DEFAULT 'machine',
    same_as            BIGINT REFERENCES room_mappings(id) ON DELETE SET NULL,
    reviewer           TEXT,
    reviewed_at        TIMESTAMPTZ,
    created_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at         TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX ix_room_mappings_hotel ON room_mappings (master_hotel_id);
CREATE INDEX ix_room_mappings_pending ON room_mappings (status) WHERE status = 'pending_review';
""")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS room_mappings")
