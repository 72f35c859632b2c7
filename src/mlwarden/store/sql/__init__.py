"""SQL persistence: SQLAlchemy 2 stores over SQLite and PostgreSQL, tables in ``schema.py``."""
