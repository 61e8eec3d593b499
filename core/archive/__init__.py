"""The raw-feed archive: every supplier response a sync receives, and the rows parsed from it, kept as Parquet.

- `store`: where the archive lives (a local folder, or a pyarrow filesystem URL), its layout
  (`responses|rates|hotels/supplier=X/day=YYYY-MM-DD/<feed>-<run>.parquet`), writing, reading and retention.
- `recorder`: taps a sync's adapters (the HTTP answers and the parsed rows) and writes them when the sync ends.
- `replay`: a sync over archived answers instead of the supplier (an httpx transport serving them), through the
  same adapters, contracts and writes as a live sync.
- `query`: DuckDB over the archive and the warehouse's Parquet export, for `hotelctl sql`.
"""
