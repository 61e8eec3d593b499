"""ClickHouse warehouse: schema (DDL), the client wrapper, loaders."""
