"""The columns of a sweep's result rows: their names, units and labels, how a table shows
a value, which row is the baseline, and the headline ("least energy within 1 pt of the
baseline").

One row per point (:func:`spikelite.sweep.point.execute`). Fractions are in [0, 1],
accuracies too; energies are pJ per sample, sizes bytes. Pruning has two columns, one per
quantity:

* ``masked_fraction`` — the fraction of synaptic weights held at zero by masks
  (unstructured pruning; 0.0 otherwise);
* ``removed_fraction`` — ``1 − params_after / params_before``, the fraction of parameters
  removed by channel surgery (QP-SNN channel pruning; 0.0 otherwise).

Rows written before that split carry one ``sparsity`` column holding whichever applied;
:func:`upgrade_row` converts them on read (by the row's pruning method).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

from spikelite.compress.methods import CHANNEL_METHODS
from spikelite.hardware.units import fmt_energy

Row = Mapping[str, Any]

# -- names -------------------------------------------------------------------------------------
KEY, NAME, STATUS, SCHEDULE, SCHEME, BITS, METHOD = (
    "key", "name", "status", "schedule", "scheme", "bits", "method")
MASKED_FRACTION = "masked_fraction"
REMOVED_FRACTION = "removed_fraction"
ACCURACY, BEST_ACCURACY, ACCURACY_DROP = "accuracy", "best_accuracy", "accuracy_drop_pt"
ENERGY, FORMAT, DEPLOYED_BYTES, WEIGHT_BYTES = (
    "energy_pj", "format", "deployed_bytes", "weight_bytes")
SYNOPS, PARAMS, SECONDS, TRAIN_SECONDS = "synops", "params", "seconds", "train_seconds"
ENERGY_RATIO, SIZE_RATIO = "energy_ratio", "size_ratio"
ARTIFACTS, HARDWARE_KEY, SOURCE = "artifacts", "hardware_key", "source"
#: Per preset: ``energy_pj__<preset>`` / ``format__<preset>``; per format of the primary
#: preset: ``deployed_bytes__<format>``.
ENERGY_PREFIX, FORMAT_PREFIX, DEPLOYED_PREFIX = "energy_pj__", "format__", "deployed_bytes__"

#: The schedule of the baseline row.
BASELINE = "baseline"
#: The column that held either pruning fraction before they were split (read-only alias).
SPARSITY = "sparsity"
SPARSITY_DEPRECATED = (f"the column '{SPARSITY}' is deprecated: it is now "
                       f"'{MASKED_FRACTION}' (unstructured pruning) or '{REMOVED_FRACTION}' "
                       "(channel pruning)")

#: Columns written first in CSV exports (the rest follow alphabetically).
LEADING = (NAME, SCHEDULE, SCHEME, BITS, METHOD, MASKED_FRACTION, REMOVED_FRACTION, ACCURACY,
           BEST_ACCURACY, ACCURACY_DROP, ENERGY, FORMAT, DEPLOYED_BYTES, WEIGHT_BYTES, PARAMS,
           SYNOPS, SECONDS, KEY, ARTIFACTS)

#: Row columns that are not objectives (text or bookkeeping).
TEXT_COLUMNS = frozenset({KEY, NAME, STATUS, SCHEDULE, SCHEME, METHOD, FORMAT, ARTIFACTS,
                          "layer_bits", "layer_sparsity", "regularizer", "error"})


@dataclass(frozen=True)
class ColumnInfo:
    """What a numeric column holds: its unit (as stored) and a human label."""

    unit: str
    label: str


#: Units and labels of the numeric columns (``<base>__<variant>`` columns share their base's).
COLUMNS: dict[str, ColumnInfo] = {
    BITS: ColumnInfo("bits", "weight bits"),
    MASKED_FRACTION: ColumnInfo("fraction", "masked fraction of synaptic weights"),
    REMOVED_FRACTION: ColumnInfo("fraction", "removed fraction of parameters"),
    ACCURACY: ColumnInfo("fraction", "test accuracy"),
    BEST_ACCURACY: ColumnInfo("fraction", "best test accuracy"),
    ACCURACY_DROP: ColumnInfo("pt", "accuracy drop"),
    ENERGY: ColumnInfo("pJ", "energy per sample"),
    DEPLOYED_BYTES: ColumnInfo("B", "deployed size"),
    WEIGHT_BYTES: ColumnInfo("B", "weight size"),
    SYNOPS: ColumnInfo("", "synaptic ops per sample"),
    PARAMS: ColumnInfo("", "parameters"),
    ENERGY_RATIO: ColumnInfo("×", "times less energy than the baseline"),
    SIZE_RATIO: ColumnInfo("×", "times smaller than the baseline"),
    SECONDS: ColumnInfo("s", "seconds"),
    TRAIN_SECONDS: ColumnInfo("s", "training seconds"),
}

#: Short headers of console tables (others: the column name).
HEADERS = {ACCURACY_DROP: "Δacc (pt)", ENERGY: "energy", ENERGY_RATIO: "× less",
           DEPLOYED_BYTES: "deployed", WEIGHT_BYTES: "weights", SIZE_RATIO: "× smaller",
           MASKED_FRACTION: "masked", REMOVED_FRACTION: "removed"}


def info(column: str) -> ColumnInfo | None:
    """Unit and label of ``column`` (of its base for ``<base>__<variant>``), if known."""
    return COLUMNS.get(column.partition("__")[0])


def header(column: str) -> str:
    """The short console-table header of ``column``."""
    return HEADERS.get(column, column)


def to_float(value: Any) -> float:
    """``value`` as a float, NaN for ``None``, ``""``, booleans or anything not numeric."""
    if value is None or isinstance(value, bool):
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def cell(column: str, value: Any) -> str:
    """A console-table cell: % for accuracies (2 decimals) and pruning fractions (1), SI
    units for energies, kB for bytes, ``×`` for ratios, ``—`` when missing."""
    if value is None or value == "":
        return "—"
    if not isinstance(value, (int, float)):
        return str(value)
    if column in (ACCURACY, BEST_ACCURACY):
        return f"{value * 100:.2f} %"
    if column in (MASKED_FRACTION, REMOVED_FRACTION):
        return f"{value * 100:.1f} %"
    if column == ACCURACY_DROP:
        return f"{0.0 - value + 0.0:+.2f}"
    if column.startswith(ENERGY):
        return fmt_energy(float(value))
    if column.endswith("bytes"):
        return f"{value / 1e3:.1f} kB"
    if column.endswith("ratio"):
        return f"{value:.1f}×"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


# -- the two pruning fractions -----------------------------------------------------------------
def is_channel_method(method: Any) -> bool:
    """Whether pruning ``method`` removes channels (QP-SNN) rather than masking weights."""
    return isinstance(method, str) and method in CHANNEL_METHODS


def pruned_fractions(method: str | None, fraction: float) -> dict[str, float]:
    """The row's two pruning columns from the pruned ``fraction`` of a point pruned with
    ``method``: removed parameters for a channel method, masked weights otherwise."""
    f = round(float(fraction), 6)
    channel = is_channel_method(method)
    return {MASKED_FRACTION: 0.0 if channel else f, REMOVED_FRACTION: f if channel else 0.0}


def upgrade_row(row: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Convert, in place, a row of the old schema (one ``sparsity`` column) to the
    current one (``masked_fraction`` and ``removed_fraction`` in its place, split by the
    row's ``method``); a row of the current schema is returned unchanged."""
    if SPARSITY not in row or MASKED_FRACTION in row:
        return row
    value = to_float(row[SPARSITY])
    pair = pruned_fractions(row.get(METHOD), value if math.isfinite(value) else 0.0)
    items = list(row.items())
    row.clear()
    for k, v in items:
        if k == SPARSITY:
            row.update(pair)
        else:
            row[k] = v
    return row


def sparsity_alias(rows: Iterable[Row] | None = None) -> str:
    """The column the deprecated name ``sparsity`` stands for (with a one-line
    :class:`DeprecationWarning`): ``removed_fraction`` when ``rows`` are given and
    prune only channels, else ``masked_fraction``."""
    column = MASKED_FRACTION
    if rows is not None:
        rows = list(rows)
        masked = any(to_float(r.get(MASKED_FRACTION)) > 0 for r in rows)
        removed = any(to_float(r.get(REMOVED_FRACTION)) > 0 for r in rows)
        if removed and not masked:
            column = REMOVED_FRACTION
    warnings.warn(f"{SPARSITY_DEPRECATED}; using '{column}'", DeprecationWarning,
                  stacklevel=3)
    return column


# -- the baseline and the headline -------------------------------------------------------------
def is_baseline(row: Row) -> bool:
    """Whether ``row`` is a baseline point (schedule ``baseline``)."""
    return row.get(SCHEDULE) == BASELINE


def find_baseline(rows: Iterable[Row], key: str | None = None) -> Any:
    """The row with ``key`` or, without it (or when no row has it), the first baseline
    row; ``None`` when there is none."""
    rows = list(rows)
    if key is not None:
        hit = next((r for r in rows if r.get(KEY) == key), None)
        if hit is not None:
            return hit
    return next((r for r in rows if is_baseline(r)), None)


def add_ratios(rows: Iterable[MutableMapping[str, Any]], baseline: Row | None) -> None:
    """``energy_ratio`` / ``size_ratio``: how many times less than the baseline."""
    if baseline is None:
        return
    for r in rows:
        if r.get(ENERGY):
            r[ENERGY_RATIO] = round(baseline[ENERGY] / r[ENERGY], 4)
        if r.get(DEPLOYED_BYTES):
            r[SIZE_RATIO] = round(baseline[DEPLOYED_BYTES] / r[DEPLOYED_BYTES], 4)


def accuracy_drop(row: Row, baseline: Row | None) -> float:
    """Baseline accuracy − accuracy in points (from the baseline, else the row's column)."""
    if baseline is not None:
        b, a = to_float(baseline.get(ACCURACY)), to_float(row.get(ACCURACY))
        if math.isfinite(a) and math.isfinite(b):
            return (b - a) * 100.0
    return to_float(row.get(ACCURACY_DROP))


def headline(rows: Sequence[Row], baseline: Row | None, *, energy: str = ENERGY,
             max_drop_pt: float = 1.0) -> Any:
    """The least-``energy`` point other than the baseline within ``max_drop_pt`` of the
    baseline accuracy (``None`` without a baseline or such a point)."""
    if baseline is None:
        return None
    bkey = baseline.get(KEY)
    ok = [r for r in rows if r is not baseline and (bkey is None or r.get(KEY) != bkey)
          and accuracy_drop(r, baseline) <= max_drop_pt + 1e-9
          and math.isfinite(to_float(r.get(energy))) and to_float(r.get(energy)) > 0]
    return min(ok, key=lambda r: to_float(r.get(energy)), default=None)


def headline_sentence(best: Row, base: Row, energy: str = ENERGY) -> str:
    """The headline as written in ``summary.md`` and ``report.html``."""
    be, e = to_float(base.get(energy)), to_float(best.get(energy))
    bs, s = to_float(base.get(DEPLOYED_BYTES)), to_float(best.get(DEPLOYED_BYTES))
    text = (f"Least energy within 1 pt of the baseline: {best.get(NAME, '?')} — accuracy "
            f"{100 * to_float(best.get(ACCURACY)):.2f} % "
            f"({-accuracy_drop(best, base):+.2f} pt), {be / e:.1f}× less energy")
    if math.isfinite(bs) and math.isfinite(s) and s > 0:
        text += f", {bs / s:.1f}× smaller"
    return text


def headline_line(best: Row, base: Row) -> str:
    """The headline as the command line prints it (primary-preset energy)."""
    return (f"least energy within 1 pt of the baseline ({base[ACCURACY]:.4f}): "
            f"{best[NAME]} — accuracy {best[ACCURACY]:.4f}, "
            f"{base[ENERGY] / best[ENERGY]:.1f}× less energy "
            f"({best[FORMAT]} weights); weights "
            f"{base[WEIGHT_BYTES] / best[WEIGHT_BYTES]:.1f}× smaller, "
            f"{base[DEPLOYED_BYTES] / best[DEPLOYED_BYTES]:.1f}× smaller with "
            "the neuron state")
