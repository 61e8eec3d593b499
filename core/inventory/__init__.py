"""Supplier inventory sync: contracts, the PostgreSQL write path, and the Redis hot cache."""
