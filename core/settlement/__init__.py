"""Settlement: the weekly reconciliation of platform orders against supplier statements.

`csvio` reads and validates the two CSV files, `engine` pairs and classifies (polars, amounts as
integer 1/10 000 units, never floats), `report` writes the discrepancy file and the summary,
`cycles` computes cycle windows, `store` persists a cycle (revisions, lines, journal), `review`
serves finance's queries.
"""
