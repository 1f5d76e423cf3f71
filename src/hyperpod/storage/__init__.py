"""Durable state: the SQLite revision log and the in-memory watch cache built on it."""
