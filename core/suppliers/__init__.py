"""Supplier adapters: one per wholesaler protocol, one interface, one domain model."""
