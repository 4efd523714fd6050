"""Evaluation: agents against the partner zoo and each other on suites of held-out scenarios."""
