"""The one error tree of the kiosk domain (drivers have their own: drivers.errors)."""

from __future__ import annotations


class KioskError(Exception):
    """Root of every error the kiosk package raises on purpose."""


class ConfigError(KioskError):
    """The configuration is invalid; ``problems`` lists every ``key: reason`` found."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid configuration:\n  " + "\n  ".join(self.problems))


class DataError(KioskError):
    """A data file (registry, catalog) could not be loaded; ``problems`` names each row."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = list(problems)
        super().__init__(f"{source}: " + "; ".join(self.problems[:10]))


class LedgerError(KioskError):
    """The ledger could not be reached or refused a write; the kiosk fails closed."""
