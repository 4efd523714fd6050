"""Policies: torch networks, scripted partners, RLlib glue and the checkpoint format.

Imports `socius.envs`, never `socius.platform` (a test enforces it).
"""
