"""Room-type mapping: every supplier room of a mapped hotel gets a room class, a bed type and a room group
shared by the rooms of one hotel that are the same product across suppliers.

`lexicon` holds the words (English, abbreviations, Chinese), `parse` reads one name, `grouping` decides the
groups of one hotel with a score and auto/review, `csvio` is the `hotelctl match-rooms` file contract,
`store` keeps the mappings in PostgreSQL (incremental; operator decisions kept) and answers
`room_types_for(engine, master_hotel_ids)` for the quote engine.
"""
