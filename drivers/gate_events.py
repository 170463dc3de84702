"""Gate readings that ``drivers/base.py`` does not have yet (issue 6).

These belong in ``drivers/base.py`` next to ``GatePulsed``, with ``PassageSeen`` added to the
``Reading`` union; they live here until the base module's other edits have landed.
"""

from __future__ import annotations

from dataclasses import dataclass

from .base import Reading

DIRECTIONS = ("A", "B")
"""Turnstile passage directions, as the controller's PASS A / PASS B outputs name them."""


@dataclass(frozen=True)
class PassageSeen:
    """One person went through the turnstile: a complete PASS cycle (active, then idle again).

    ``direction`` is "A" or "B" when the input tells (two inputs, or a controller line that
    names it) and None for a single undirected PASS contact.  Like every reading it carries
    no time: the device runner stamps it.
    """

    direction: str | None = None


@dataclass(frozen=True)
class GateState:
    """What the release sequence checks before a pulse: relay latched? someone in the turnstile?"""

    relay_on: bool
    passage_active: bool


GateReading = Reading | PassageSeen
"""Every reading a gate or passage device can return (the future ``Reading`` union)."""
