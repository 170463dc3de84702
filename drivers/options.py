"""Typed, bounded device options: each driver declares a table, the config checks it.

A driver module declares ``OPTIONS = {"baudrate": Option(int, 115200, choices=(...)), ...}``.
``parse_options`` returns the typed values and a list of problems, each naming the
option and the expected form, so that the config loader can report every problem at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Option:
    """One option: its type, default, bounds or choices, and a one-line doc with unit."""

    type: type
    default: Any
    doc: str = ""
    min: float | None = None
    max: float | None = None
    choices: tuple[Any, ...] | None = None

    def check(self, value: Any) -> str | None:
        """Return a problem text, or None when ``value`` is acceptable."""
        if self.type is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, bool) and self.type is not bool or not isinstance(value, self.type):
            return f"expected {self.type.__name__}, got {type(value).__name__} {value!r}"
        if self.choices is not None and value not in self.choices:
            return f"{value!r} is not one of {', '.join(map(repr, self.choices))}"
        number: Any = value   # bounds apply to numbers only; the type check above guarantees it
        if self.min is not None and number < self.min:
            return f"{value!r} is below the minimum {self.min!r}"
        if self.max is not None and number > self.max:
            return f"{value!r} is above the maximum {self.max!r}"
        return None


def parse_options(given: Mapping[str, Any], spec: Mapping[str, Option]) -> tuple[dict[str, Any], list[str]]:
    """Check ``given`` against ``spec``; return (typed values with defaults, problems)."""
    values: dict[str, Any] = {key: opt.default for key, opt in spec.items()}
    problems: list[str] = []
    for key, value in given.items():
        opt = spec.get(key)
        if opt is None:
            known = ", ".join(sorted(spec)) or "none"
            problems.append(f"{key}: unknown option (known: {known})")
            continue
        problem = opt.check(value)
        if problem:
            problems.append(f"{key}: {problem}")
        else:
            values[key] = float(value) if opt.type is float else value
    return values, problems
