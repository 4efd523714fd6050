"""Socius: league training of agents over the space of social situations."""

__version__ = "0.1.0"
