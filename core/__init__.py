"""Domain logic shared by the API and the Dagster assets."""
