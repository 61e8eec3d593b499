"""Quotes: priced offers for a city or a list of hotels, answered from the hot cache (no supplier call).

- `caches`: what an API process holds instead of asking PostgreSQL and Redis per quote (partner and hotel
  facts, product sets, rules, FX), each counting its hits;
- `replica`: the hot cache's product values, held and dropped as the changes stream names them;
- `shelf`: a product set's values stacked into arrays, a stay being a slice, a sum and a minimum;
- `offers`: every rate of a stay priced at once to choose, the shown offers priced exactly, their JSON;
- `store`: quotes stored off the request in batches, and read back;
- `ids`: quote and offer ids (an offer id names its quote);
- `service`: `answer_quote`, the request's path through the above.
"""
