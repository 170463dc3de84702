"""Gate readings: passage directions; ``PassageSeen`` and ``GateState`` live in drivers.base."""

from __future__ import annotations

from .base import GateState, PassageSeen

DIRECTIONS = ("A", "B")
"""Turnstile passage directions, as the controller's PASS A / PASS B outputs name them."""

__all__ = ["DIRECTIONS", "GateState", "PassageSeen"]
