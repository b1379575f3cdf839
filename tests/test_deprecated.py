"""Moved public names keep working under their old paths, with a DeprecationWarning."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize(("old", "name", "new"), [
    ("spikelite.config", "DataSpec", "spikelite.data.spec"),
    ("spikelite.config", "ModelSpec", "spikelite.models.spec"),
    ("spikelite.config", "TrainSpec", "spikelite.train.config"),
    ("spikelite.config", "FinetuneSpec", "spikelite.train.config"),
    ("spikelite.config", "RunConfig", "spikelite.train.run"),
    ("spikelite.config", "RegularizerSpec", "spikelite.regularize"),
    ("spikelite.config", "CompressConfig", "spikelite.compress.spec"),
    ("spikelite.config", "read_yaml", "spikelite.records"),
    ("spikelite.runner", "run_training", "spikelite.train.run"),
    ("spikelite.runner", "load_data", "spikelite.data.spec"),
    ("spikelite.runner", "build_model", "spikelite.models.spec"),
    ("spikelite.pipeline", "run_schedule", "spikelite.compress.schaefer"),
    ("spikelite.pipeline", "ScheduleConfig", "spikelite.compress.schaefer"),
    ("spikelite.pipeline", "run_qpsnn", "spikelite.compress.qpsnn"),
    ("spikelite.pipeline", "pruned_fraction", "spikelite.compress.steps"),
])
def test_old_path_warns_and_returns_the_moved_object(old, name, new):
    mod = importlib.import_module(old)
    with pytest.warns(DeprecationWarning, match=name):
        obj = getattr(mod, name)
    assert obj is getattr(importlib.import_module(new), name)


def test_old_parse_config_still_validates_a_run_config():
    from spikelite.config import parse_config
    from spikelite.train.run import RunConfig

    with pytest.warns(DeprecationWarning):
        cfg = parse_config({"train": {"epochs": 2}})
    assert isinstance(cfg, RunConfig) and cfg.train.epochs == 2


def test_train_config_schedule_alias():
    from spikelite.train import TrainConfig

    with pytest.warns(FutureWarning, match="lr_schedule"):
        cfg = TrainConfig(schedule="constant")
    assert cfg.lr_schedule == "constant"
    with pytest.warns(DeprecationWarning):
        assert cfg.schedule == "constant"


def test_unknown_old_name_is_an_attribute_error():
    mod = importlib.import_module("spikelite.pipeline")
    with pytest.raises(AttributeError):
        mod.no_such_name  # noqa: B018
