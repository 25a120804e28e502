"""Persistence: tables, imperative mapping, engines and migrations."""
