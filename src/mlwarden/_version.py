"""The package version, in a module of its own so that any layer can read it without
loading the facade (``mlwarden/__init__`` names everything public)."""

__version__ = "0.1.0"
