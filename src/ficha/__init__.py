"""Ficha: prepaid recharges, access and money for cyber cafés, hotspots and call shops."""

__version__ = "0.1.0"
