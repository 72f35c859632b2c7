"""Persistence: SQL records (SQLite or PostgreSQL) and content-addressed artifacts."""
