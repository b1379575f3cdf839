"""A recipe's top-level ``memory_format`` reaches the baseline and every fine-tuning, and
is part of their run keys only when it is not the default."""

from __future__ import annotations

from spikelite.sweep.recipe import run_key

from ._tiny import tiny_recipe


def test_recipe_memory_format_reaches_every_training(tmp_path):
    grid = [{"schedule": "ptq", "scheme": "duq", "bits": 4, "finetune": {"epochs": 1}}]
    r = tiny_recipe(tmp_path / "s", memory_format="channels_last", grid=grid)
    assert r.baseline.train.memory_format == "channels_last"
    assert r.finetune.memory_format == "channels_last"
    assert all(p.finetune is None or p.finetune.memory_format == "channels_last"
               for p in r.expand())
    default = tiny_recipe(tmp_path / "s", grid=grid)
    explicit = tiny_recipe(tmp_path / "s", memory_format="contiguous", grid=grid)
    keys = [run_key(default, p) for p in default.expand()]
    assert keys == [run_key(explicit, p) for p in explicit.expand()]  # as before the option
    assert set(keys).isdisjoint(run_key(r, p) for p in r.expand())  # NHWC: other runs
