-- What the price competitiveness model compares: a supplier room's platform room group (room mappings; '' when
-- unmapped or awaiting review), its English name, and its net in euros at the reference rate set in effect on
-- the night (NULL when no rate set has the currency). Suppliers name one room differently and sell in their own
-- currencies; compared by name and currency they never met.
ALTER TABLE hotel_analytics.fact_inventory ADD COLUMN IF NOT EXISTS room_group String DEFAULT '';
ALTER TABLE hotel_analytics.fact_inventory ADD COLUMN IF NOT EXISTS room_name_en String DEFAULT '';
ALTER TABLE hotel_analytics.fact_inventory ADD COLUMN IF NOT EXISTS eur_amount Nullable(Decimal(18, 4));
