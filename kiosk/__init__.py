"""Checkpoint kiosk: domain, decisions and persistence (no hardware, no Flask)."""

__version__ = "0.1.0"
