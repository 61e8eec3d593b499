"""FastAPI serving layer: quotes, orders, settlements, health, metrics."""
