"""hotelctl: the command-line entry point."""
