"""A league run: its actors, its generations and where they go (the run layer)."""
