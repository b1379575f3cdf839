"""Display units of the cost model's quantities: one unit table per quantity and the two
ways to use it — format one value (:func:`fmt_energy`) or pick one unit for a set of
values, e.g. a table column or a plot axis (:func:`energy_scale`).

A table is ``((unit, divisor), …)`` from the largest unit down; a value ``v`` is shown
in the first unit with ``|v| ≥ divisor`` (the last unit below that), as ``v / divisor``.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence

Units = Sequence[tuple[str, float]]

#: Energies are stored in pJ.
ENERGY_UNITS: Units = (("mJ", 1e9), ("µJ", 1e6), ("nJ", 1e3), ("pJ", 1.0))
#: SI prefixes of plain counts (operations, parameters).
SI_PREFIXES: Units = (("G", 1e9), ("M", 1e6), ("k", 1e3), ("", 1.0))


def pick_unit(value: float, units: Units) -> tuple[str, float]:
    """``(unit, divisor)``: the first unit of ``units`` with ``|value| ≥ divisor``, else
    the last one (NaN gets the last one)."""
    a = abs(value)
    for unit, div in units:
        if a >= div:
            return unit, div
    return units[-1]


def scale_for(values: Iterable[float], units: Units) -> tuple[str, float]:
    """One ``(unit, divisor)`` for a set of values: the unit of the median of their
    magnitudes (finite, non-zero ones; the last unit when there are none)."""
    finite = [abs(v) for v in values if math.isfinite(v) and v != 0]
    ref = float(statistics.median(finite)) if finite else 0.0
    return pick_unit(ref, units)


def energy_unit(pj: float) -> tuple[str, float]:
    """``(unit, divisor)`` of one energy in pJ (:data:`ENERGY_UNITS`)."""
    return pick_unit(pj, ENERGY_UNITS)


def energy_scale(values: Iterable[float]) -> tuple[str, float]:
    """``(unit, divisor)`` for a set of energies in pJ (a column, an axis)."""
    return scale_for(values, ENERGY_UNITS)


def fmt_energy(pj: float) -> str:
    """An energy in pJ in human units, 3 significant digits: ``1.23e6`` → ``"1.23 µJ"``."""
    unit, div = energy_unit(pj)
    return f"{pj / div:.3g} {unit}"


def fmt_si(x: float) -> str:
    """A count with an SI prefix, 3 significant digits: ``12345`` → ``"12.3k"``."""
    prefix, div = pick_unit(x, SI_PREFIXES)
    return f"{x / div:.3g}{prefix}"
