"""Services: the unit of work, the use cases and the store."""
