"""Pareto filter on hand-made points: ties, duplicates, NaN, 3 objectives, senses."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from spikelite.errors import SpikeliteError
from spikelite.sweep.pareto import Objective, dominates, pareto_front, pareto_mask

AE = ("accuracy:max", "energy_pj:min")


def pt(acc: Any, energy: Any, **kw: Any) -> dict[str, Any]:
    return {"accuracy": acc, "energy_pj": energy, **kw}


def names(rows: list[dict[str, Any]], objectives: Any = AE) -> list[str]:
    return [r["name"] for r in pareto_front(rows, objectives)]


def test_basic_front() -> None:
    rows = [pt(0.9, 100, name="a"), pt(0.8, 50, name="b"), pt(0.85, 120, name="c"),
            pt(0.95, 300, name="d"), pt(0.7, 60, name="e")]
    assert pareto_mask(rows, AE) == [True, True, False, True, False]


def test_ties_on_one_objective() -> None:
    same_acc = [pt(0.9, 100, name="cheap"), pt(0.9, 200, name="dear")]
    assert names(same_acc) == ["cheap"]
    same_energy = [pt(0.8, 100, name="worse"), pt(0.9, 100, name="better")]
    assert names(same_energy) == ["better"]
    # A tie on energy with a point that is better elsewhere on the front still counts.
    rows = [pt(0.9, 100, name="a"), pt(0.95, 200, name="b"), pt(0.95, 150, name="c")]
    assert names(rows) == ["a", "c"]


def test_duplicates_all_kept_or_all_dropped() -> None:
    rows = [pt(0.9, 100, name="a"), pt(0.9, 100, name="a2"), pt(0.8, 50, name="b"),
            pt(0.7, 80, name="x"), pt(0.7, 80, name="x2")]
    assert names(rows) == ["a", "a2", "b"]
    assert not dominates(rows[0], rows[1], AE) and not dominates(rows[1], rows[0], AE)


@pytest.mark.parametrize("bad", [math.nan, None, "", "n/a", float("nan")])
def test_missing_values_never_on_front_never_dominate(bad: Any) -> None:
    rows = [pt(bad, 1, name="nan-acc"), pt(0.9, bad, name="nan-energy"),
            pt(0.8, 100, name="ok")]
    assert names(rows) == ["ok"]
    assert not dominates(rows[0], rows[2], AE)
    assert not dominates(rows[2], rows[0], AE)


def test_missing_key_in_some_rows() -> None:
    rows = [{"accuracy": 0.99, "name": "no-energy"}, pt(0.8, 100, name="ok")]
    assert names(rows) == ["ok"]


def test_three_objectives() -> None:
    obj = ("accuracy:max", "energy_pj:min", "deployed_bytes:min")
    rows = [pt(0.9, 100, deployed_bytes=10, name="a"),
            pt(0.9, 100, deployed_bytes=20, name="a-big"),   # dominated by a
            pt(0.9, 200, deployed_bytes=5, name="small"),    # smaller: on the 3-D front
            pt(0.95, 400, deployed_bytes=50, name="best"),
            pt(0.85, 400, deployed_bytes=60, name="bad")]
    assert names(rows, obj) == ["a", "small", "best"]
    # On two objectives "small" is dominated by "a", and "a-big" duplicates "a".
    assert names(rows) == ["a", "a-big", "best"]


def test_senses_and_aliases() -> None:
    rows = [pt(0.9, 100, name="a"), pt(0.8, 50, name="b"), pt(0.85, 120, name="c")]
    assert names(rows, ["accuracy", "energy"]) == ["a", "b"]
    assert names(rows, [Objective("accuracy", "max"), Objective.parse("energy")]) == ["a", "b"]
    assert names(rows, ["accuracy:min", "energy:max"]) == ["b", "c"]
    assert names(rows, ["accuracy:max"]) == ["a"]
    assert names(rows, ["energy_pj:min"]) == ["b"]


def test_string_values_from_csv() -> None:
    rows = [pt("0.9", "100", name="a"), pt("0.8", "150", name="b")]
    assert names(rows) == ["a"]


def test_empty() -> None:
    assert pareto_mask([], AE) == []


def test_matches_brute_force() -> None:
    rng = np.random.default_rng(0)
    vals = rng.integers(0, 5, size=(300, 3)).astype(float)
    vals[rng.random(300) < 0.05, 1] = np.nan
    rows = [{"a": v[0], "b": v[1], "c": v[2]} for v in vals]
    obj = ["a:max", "b:min", "c:min"]
    expected = [not any(dominates(o, r, obj) for o in rows) and not math.isnan(r["b"])
                for r in rows]
    assert pareto_mask(rows, obj) == expected


def test_objective_parse() -> None:
    assert Objective.parse("accuracy:max") == Objective("accuracy", "max")
    assert Objective.parse("energy") == Objective("energy_pj", "min")
    assert Objective.parse("size") == Objective("deployed_bytes", "min")
    assert Objective.parse("accuracy") == Objective("accuracy", "max")
    assert Objective.parse("synops") == Objective("synops", "min")
    assert Objective.parse(" Energy : MAX ") == Objective("energy_pj", "max")
    assert Objective.parse("energy_pj__sparseloop-eyeriss45") == Objective(
        "energy_pj__sparseloop-eyeriss45", "min")
    assert Objective.parse("best_accuracy").sense == "max"
    assert Objective.parse("accuracy_drop_pt").sense == "min"
    o = Objective("x", "max")
    assert Objective.parse(o) is o
    assert str(Objective.parse("energy")) == "energy_pj:min"


@pytest.mark.parametrize("spec", ["", ":max", "accuracy:", "accuracy:up", "a:min:max", 3])
def test_objective_parse_errors(spec: Any) -> None:
    with pytest.raises(SpikeliteError):
        Objective.parse(spec)


def test_unknown_column_message() -> None:
    rows = [pt(0.9, 100, name="a", deployed_bytes=10)]
    with pytest.raises(SpikeliteError) as exc:
        pareto_mask(rows, ["accuracy", "latency:min"])
    msg = str(exc.value)
    assert "'latency'" in msg
    assert "accuracy, deployed_bytes, energy_pj" in msg
    assert "name" not in msg.split("Available columns:")[1].split(";")[0]


def test_no_objectives() -> None:
    with pytest.raises(SpikeliteError):
        pareto_mask([pt(0.9, 1)], [])
