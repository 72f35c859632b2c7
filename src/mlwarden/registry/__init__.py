"""The model registry: versions with lineage, aliases, integrity-checked artifacts."""
