"""Data: the rollout schema (and, as they land, the rollout lake and the checkpoint registry)."""
