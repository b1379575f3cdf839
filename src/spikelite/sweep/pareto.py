"""Non-dominated (Pareto) sets of sweep result rows over any number of objectives.

An :class:`Objective` is a row column and a sense (``max`` or ``min``), parsed from strings
such as ``"accuracy:max"``, ``"energy_pj:min"`` or the aliases ``energy``, ``size``,
``accuracy`` and ``synops``. :func:`pareto_mask` marks the rows no other row dominates.
Rows missing a value (``None``, empty, not a number, NaN) are never on the front and never
dominate; rows with identical objective vectors do not dominate each other, so duplicates
are all kept.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from spikelite.errors import SpikeliteError
from spikelite.sweep.columns import SPARSITY, TEXT_COLUMNS, sparsity_alias, to_float

Sense = Literal["max", "min"]

#: Short names → (column, sense).
ALIASES: dict[str, tuple[str, Sense]] = {
    "accuracy": ("accuracy", "max"),
    "acc": ("accuracy", "max"),
    "energy": ("energy_pj", "min"),
    "size": ("deployed_bytes", "min"),
    "bytes": ("deployed_bytes", "min"),
    "synops": ("synops", "min"),
    "params": ("params", "min"),
    "drop": ("accuracy_drop_pt", "min"),
}

def default_sense(column: str) -> Sense:
    """``max`` for accuracy-like columns (and ratios of "times less"), else ``min``."""
    c = column.lower()
    if "drop" in c:
        return "min"
    if "accuracy" in c or c.endswith("_ratio"):
        return "max"
    return "min"


@dataclass(frozen=True)
class Objective:
    """A row column to maximise or minimise."""

    column: str
    sense: Sense = "min"

    def __post_init__(self) -> None:
        if not self.column:
            raise SpikeliteError("an objective needs a column name, e.g. 'energy_pj:min'")
        if self.sense not in ("max", "min"):
            raise SpikeliteError(
                f"objective '{self.column}': sense must be 'max' or 'min', not {self.sense!r}")

    @classmethod
    def parse(cls, spec: str | Objective,
              rows: Iterable[Mapping[str, Any]] | None = None) -> Objective:
        """``"column[:max|min]"`` or an alias (``energy``, ``size``, ``accuracy``,
        ``synops``); without a sense, accuracy-like columns are maximised, others minimised.
        The deprecated ``sparsity`` stands for ``masked_fraction`` or, when ``rows`` prune
        only channels, ``removed_fraction`` (:func:`.columns.sparsity_alias`)."""
        if isinstance(spec, Objective):
            return spec
        if not isinstance(spec, str):
            raise SpikeliteError(f"an objective is a string like 'energy_pj:min', not {spec!r}")
        text = spec.strip()
        column, sep, sense = text.partition(":")
        column, sense = column.strip(), sense.strip().lower()
        if not column or (sep and not sense) or ":" in sense:
            raise SpikeliteError(
                f"bad objective {spec!r}: write COLUMN[:max|min], e.g. 'accuracy:max', "
                f"'energy_pj:min', or an alias ({', '.join(sorted(ALIASES))})")
        if sense and sense not in ("max", "min"):
            raise SpikeliteError(
                f"bad objective {spec!r}: the sense must be 'max' or 'min', not {sense!r}")
        if column.lower() == SPARSITY:
            column = sparsity_alias(rows)
        if column.lower() in ALIASES:
            column, alias_sense = ALIASES[column.lower()]
            return cls(column, sense or alias_sense)  # type: ignore[arg-type]
        return cls(column, sense or default_sense(column))  # type: ignore[arg-type]

    def __str__(self) -> str:
        return f"{self.column}:{self.sense}"

    @property
    def arrow(self) -> str:
        """``↑`` for max, ``↓`` for min (for labels)."""
        return "↑" if self.sense == "max" else "↓"

    def raw(self, row: Mapping[str, Any]) -> float:
        """The row's value as a float (NaN when missing or not a number)."""
        return to_float(row.get(self.column))

    def cost(self, row: Mapping[str, Any]) -> float:
        """The value turned into a cost (smaller is better; NaN when missing)."""
        v = self.raw(row)
        return -v if self.sense == "max" else v


def parse_objectives(objectives: Iterable[str | Objective],
                     rows: Sequence[Mapping[str, Any]] | None = None) -> list[Objective]:
    """Parse a sequence of objective specs (deprecated names resolved against ``rows``);
    at least one is needed."""
    if isinstance(objectives, (str, Objective)):
        objectives = [objectives]
    objs = [Objective.parse(o, rows) for o in objectives]
    if not objs:
        raise SpikeliteError("give at least one objective, e.g. ['accuracy:max', 'energy:min']")
    return objs


def numeric_columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Columns with a numeric value in at least one row (sorted)."""
    cols: set[str] = set()
    for r in rows:
        for k, v in r.items():
            if k not in cols and k not in TEXT_COLUMNS and not math.isnan(to_float(v)):
                cols.add(k)
    return sorted(cols)


def check_columns(rows: Sequence[Mapping[str, Any]], objectives: Sequence[Objective]) -> None:
    """Raise :class:`SpikeliteError` naming the available columns when an objective's
    column is in no row."""
    if not rows:
        return
    present: set[str] = set()
    for r in rows:
        present.update(r)
    missing = [o.column for o in objectives if o.column not in present]
    if missing:
        avail = numeric_columns(rows)
        raise SpikeliteError(
            f"unknown objective column(s) {', '.join(repr(m) for m in missing)}. "
            f"Available columns: {', '.join(avail) or '(none)'}; aliases: "
            f"{', '.join(f'{a}→{c}' for a, (c, _) in sorted(ALIASES.items()) if a != c)}")


def cost_matrix(rows: Sequence[Mapping[str, Any]],
                objectives: Sequence[Objective]) -> np.ndarray:
    """``[n_rows, n_objectives]`` costs (smaller is better; NaN where missing)."""
    if not rows:
        return np.zeros((0, len(objectives)))
    return np.array([[o.cost(r) for o in objectives] for r in rows], dtype=float)


def dominates(a: Mapping[str, Any], b: Mapping[str, Any],
              objectives: Sequence[str | Objective]) -> bool:
    """True when ``a`` is at least as good as ``b`` on every objective and strictly better
    on one. A row with a missing/NaN objective neither dominates nor is dominated."""
    objs = parse_objectives(objectives, [a, b])
    ca = np.array([o.cost(a) for o in objs])
    cb = np.array([o.cost(b) for o in objs])
    if np.isnan(ca).any() or np.isnan(cb).any():
        return False
    return bool(np.all(ca <= cb) and np.any(ca < cb))


def pareto_mask(rows: Sequence[Mapping[str, Any]],
                objectives: Sequence[str | Objective]) -> list[bool]:
    """For each row, whether it is non-dominated over ``objectives`` (any number ≥ 1).

    Duplicates (equal objective vectors) are all kept; rows with a missing or NaN value are
    never on the front and never dominate. Unknown columns raise :class:`SpikeliteError`.
    """
    rows = list(rows)
    objs = parse_objectives(objectives, rows)
    check_columns(rows, objs)
    costs = cost_matrix(rows, objs)
    n = len(rows)
    if n == 0:
        return []
    valid = ~np.isnan(costs).any(axis=1)
    mask = valid.copy()
    c = costs[valid]
    idx = np.flatnonzero(valid)
    chunk = max(1, 2_000_000 // max(len(c), 1))
    for start in range(0, len(c), chunk):
        block = c[start:start + chunk]  # candidates to test
        # le[i, j]: row j is at least as good as candidate i on every objective.
        le = (c[None, :, :] <= block[:, None, :]).all(axis=2)
        lt = (c[None, :, :] < block[:, None, :]).any(axis=2)
        dominated = (le & lt).any(axis=1)
        mask[idx[start:start + chunk][dominated]] = False
    return [bool(m) for m in mask]


def pareto_front(rows: Sequence[Mapping[str, Any]],
                 objectives: Sequence[str | Objective]) -> list[Mapping[str, Any]]:
    """The non-dominated rows, in their original order."""
    rows = list(rows)
    return [r for r, m in zip(rows, pareto_mask(rows, objectives), strict=True) if m]
