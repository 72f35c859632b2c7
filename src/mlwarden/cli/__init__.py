"""Typer + Rich command line; thin: parse, call the Warden facade, render."""
