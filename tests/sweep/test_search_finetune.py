"""A search space's ``finetune`` (e.g. distillation) reaches every drawn point."""

from __future__ import annotations

from typing import Any

from spikelite.sweep.recipe import SearchSpace, SearchSpec
from spikelite.sweep.search import suggest_point


class _FirstChoice:
    """A stand-in Optuna trial: the first category, the low end of a range."""

    def suggest_categorical(self, _name: str, choices: list[Any]) -> Any:
        return choices[0]

    def suggest_float(self, _name: str, lo: float, _hi: float, step: float = 0.0) -> float:
        return lo + step


def test_search_space_finetune_is_given_to_every_point() -> None:
    from spikelite.sweep.recipe import Recipe

    space = SearchSpace(bits=[2], finetune={"epochs": 3, "distill": {"temperature": 2}})
    recipe = Recipe(search=SearchSpec(space=space))
    point = suggest_point(_FirstChoice(), recipe, ["conv1"])
    assert point.finetune is not None and point.finetune.distill is not None
    assert point.finetune.distill.temperature == 2
    plain = suggest_point(_FirstChoice(), Recipe(search=SearchSpec()), ["conv1"])
    assert plain.finetune is None
