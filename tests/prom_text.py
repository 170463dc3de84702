"""A strict parser of the Prometheus text exposition format 0.0.4, for the metrics tests.

Written from the format's specification (prometheus/docs, "Exposition formats"), independent of
kiosk/metrics.py: HELP and TYPE at most once per family and before its samples, every sample of a
declared family (histograms: ``_bucket`` with ``le``, ``_sum``, ``_count``), metric and label names of
the allowed characters, label values with only the three escapes, values as Go floats, no series twice,
and histogram buckets cumulative up to ``+Inf`` = ``_count``.  ``ExpositionError`` on any breach.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

METRIC = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"
_SAMPLE = re.compile(rf"^({METRIC})(?:\{{(.*)\}})? ([^ ]+)(?: (-?\d+))?$")
_PAIR = re.compile(rf'\s*({LABEL})="((?:[^"\\]|\\["\\n])*)"\s*(,|$)')
_TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


class ExpositionError(AssertionError):
    """The text breaks the format."""


@dataclass
class Family:
    """One metric family as parsed."""

    name: str
    type: str = "untyped"
    help: str | None = None
    samples: list[tuple[str, dict[str, str], float]] = field(default_factory=list)

    def value(self, **labels: str) -> float:
        """The value of the one sample named like the family with exactly ``labels``."""
        found = [v for n, ls, v in self.samples if n == self.name and ls == labels]
        if len(found) != 1:
            raise KeyError(f"{self.name}{labels}: {len(found)} samples")
        return found[0]


def parse(text: str) -> dict[str, Family]:
    """Every family of ``text``, strictly checked."""
    if not text.endswith("\n"):
        raise ExpositionError("the exposition must end with a line feed")
    families: dict[str, Family] = {}
    seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    for number, line in enumerate(text.split("\n")[:-1], start=1):
        if not line.strip():
            continue
        if line.startswith("#"):
            _comment(line, families, number)
            continue
        name, labels, value = _sample(line, number)
        family = families.get(_family_of(name, families))
        if family is None:
            raise ExpositionError(f"line {number}: sample {name} of no declared family")
        key = (name, tuple(sorted(labels.items())))
        if key in seen:
            raise ExpositionError(f"line {number}: series {name}{labels} twice")
        seen.add(key)
        family.samples.append((name, labels, value))
    for family in families.values():
        if family.type == "histogram":
            _check_histogram(family)
    return families


def _comment(line: str, families: dict[str, Family], number: int) -> None:
    parts = line.split(" ", 3)
    if len(parts) < 3 or parts[1] not in ("HELP", "TYPE"):
        return                                  # an ordinary comment
    keyword, name = parts[1], parts[2]
    if not re.fullmatch(METRIC, name):
        raise ExpositionError(f"line {number}: bad metric name {name!r}")
    family = families.setdefault(name, Family(name))
    if keyword == "TYPE":
        kind = parts[3] if len(parts) > 3 else ""
        if kind not in _TYPES:
            raise ExpositionError(f"line {number}: unknown type {kind!r}")
        if family.samples or family.type != "untyped":
            raise ExpositionError(f"line {number}: TYPE of {name} after its samples or twice")
        family.type = kind
    else:
        if family.help is not None:
            raise ExpositionError(f"line {number}: HELP of {name} twice")
        family.help = parts[3] if len(parts) > 3 else ""


def _sample(line: str, number: int) -> tuple[str, dict[str, str], float]:
    match = _SAMPLE.match(line)
    if not match:
        raise ExpositionError(f"line {number}: not a sample: {line!r}")
    name, raw_labels, raw_value = match.group(1), match.group(2), match.group(3)
    labels: dict[str, str] = {}
    rest = raw_labels or ""
    while rest.strip():
        pair = _PAIR.match(rest)
        if not pair:
            raise ExpositionError(f"line {number}: bad labels {raw_labels!r}")
        key = pair.group(1)
        if key in labels:
            raise ExpositionError(f"line {number}: label {key} twice")
        labels[key] = pair.group(2).replace("\\n", "\n").replace('\\"', '"').replace("\\\\", "\\")
        rest = rest[pair.end():]
    try:
        value = float(raw_value)
    except ValueError:
        raise ExpositionError(f"line {number}: bad value {raw_value!r}") from None
    if raw_value.lower() in ("inf", "infinity", "-inf", "nan") and raw_value not in ("+Inf", "-Inf", "NaN"):
        raise ExpositionError(f"line {number}: spell infinity +Inf/-Inf and NaN NaN, not {raw_value!r}")
    return name, labels, value


def _family_of(name: str, families: dict[str, Family]) -> str:
    if name in families:
        return name
    for suffix in ("_bucket", "_sum", "_count"):
        base = name.removesuffix(suffix)
        if base != name and families.get(base, Family(base)).type in ("histogram", "summary"):
            return base
    return name


def _check_histogram(family: Family) -> None:
    series: dict[tuple[tuple[str, str], ...], list[tuple[float, float]]] = {}
    counts: dict[tuple[tuple[str, str], ...], float] = {}
    for name, labels, value in family.samples:
        if name == family.name:
            raise ExpositionError(f"{family.name}: a histogram has only _bucket, _sum and _count samples")
        if name.endswith("_bucket"):
            if "le" not in labels:
                raise ExpositionError(f"{family.name}: a bucket without le")
            rest = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
            series.setdefault(rest, []).append((float(labels["le"]), value))
        elif name.endswith("_count"):
            counts[tuple(sorted(labels.items()))] = value
    for key, buckets in series.items():
        bounds = [b for b, _ in buckets]
        if bounds != sorted(bounds) or not math.isinf(bounds[-1]):
            raise ExpositionError(f"{family.name}{dict(key)}: buckets not in order or no +Inf")
        values = [v for _, v in buckets]
        if values != sorted(values):
            raise ExpositionError(f"{family.name}{dict(key)}: buckets not cumulative")
        if counts.get(key) != values[-1]:
            raise ExpositionError(f"{family.name}{dict(key)}: +Inf bucket is not _count")


def histogram_count(family: Family, **labels: str) -> float:
    """The ``_count`` of one histogram series."""
    return next(v for n, ls, v in family.samples if n == family.name + "_count" and ls == labels)
