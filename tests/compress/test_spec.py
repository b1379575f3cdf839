"""The compression spec, the schedule registry and the one entry point."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from spikelite.compress import (
    SCHEDULES,
    CompressConfig,
    CompressionResult,
    CompressionSpec,
    Schedule,
    compress_model,
)
from spikelite.core import LIF, Flatten, TimeDistributed
from spikelite.errors import SpikeliteError
from spikelite.records import parse_record
from spikelite.sweep.recipe import PointSpec, Recipe, run_key
from spikelite.train.config import FinetuneSpec


def _data() -> TensorDataset:
    g = torch.Generator().manual_seed(0)
    y = torch.arange(48) % 2
    p = torch.full((48, 8), 0.1)
    p[y == 0, :4] = 0.8
    p[y == 1, 4:] = 0.8
    return TensorDataset((torch.rand(48, 4, 8, generator=g) < p[:, None]).float(), y)


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(Flatten(), TimeDistributed(nn.Linear(8, 16)), LIF(beta=0.8),
                         TimeDistributed(nn.Linear(16, 2)))


FT = FinetuneSpec(epochs=1, batch_size=16, lr=5e-3)


def test_every_schedule_is_registered_once_with_a_summary():
    assert set(SCHEDULES.names()) == {"baseline", "finetune", "ptq", "qat", "isolation",
                                      "joint", "cumulative", "qp", "pq"}
    for name in SCHEDULES.names():
        cls = SCHEDULES.get(name)
        assert issubclass(cls, Schedule) and cls.summary


@pytest.mark.parametrize(("raw", "needle"), [
    ({"schedule": "qat", "scheme": "duq", "bits": 4, "method": "magnitude", "sparsity": 0.5},
     "no pruning"),
    ({"schedule": "ptq", "method": "magnitude", "sparsity": 0.5}, "needs a quantizer"),
    ({"schedule": "qp", "scheme": "rescaw", "bits": 4, "method": "svs", "sparsity": 0.5,
      "layer_bits": {"conv1": 2}}, "per-layer bits"),
    ({"schedule": "isolation", "scheme": "duq", "bits": 4, "method": "magnitude",
      "sparsity": 0.5, "finetune": {"epochs": 2}}, "isolation means one technique"),
    ({"schedule": "cumulative", "scheme": "duq", "bits": 4, "method": "magnitude",
      "sparsity": 0.5, "finetune": {"epochs": 2}, "prune_epochs": 2}, "prune_epochs"),
    ({"schedule": "qp", "scheme": "rescaw", "bits": 4, "method": "svs", "sparsity": 0.5,
      "finetune": {"epochs": 1}}, "two stages"),
    ({"schedule": "joint", "scheme": "duq", "bits": 4, "finetune": {"epochs": 0}},
     "set finetune.epochs >= 1"),
    ({"schedule": "baseline", "regularizer": {"name": "l1"}}, "regularizer acts during"),
    ({"schedule": "sequential"}, "unknown schedule 'sequential'"),
])
def test_each_schedule_validates_its_own_options(raw, needle):
    with pytest.raises(SpikeliteError) as e:
        CompressionSpec(**raw)
    assert needle in str(e.value)


def test_epoch_rules_are_checked_when_the_recipe_loads_not_after_training():
    point = {"schedule": "qp", "scheme": "rescaw", "bits": 4, "method": "svs", "sparsity": 0.5}
    with pytest.raises(SpikeliteError, match="two stages"):
        parse_record({"finetune": {"epochs": 1}, "points": [point]}, "r", Recipe)
    ok = Recipe.model_validate({"finetune": {"epochs": 2}, "points": [point]})
    assert ok.expand()[0].schedule == "qp"


@pytest.mark.parametrize(("job", "schedule"), [
    ({"quant": {"scheme": "duq", "bits": 4}}, "qat"),
    ({"quant": {"scheme": "duq", "bits": 4}, "finetune": {"epochs": 0}}, "ptq"),
    ({"prune": {"method": "svs", "sparsity": 0.5}, "finetune": {"epochs": 2}}, "qp"),
    ({"prune": {"method": "magnitude", "sparsity": 0.5}}, "joint"),
    ({}, "finetune"),
])
def test_compress_job_infers_its_schedule(job, schedule):
    cfg = CompressConfig(checkpoint="ck", **job)
    assert cfg.spec().schedule == schedule


def test_compress_job_with_nothing_to_do_is_refused():
    with pytest.raises(SpikeliteError, match="nothing to do"):
        CompressConfig(checkpoint="ck", finetune={"epochs": 0})


def test_one_entry_point_runs_each_kind_of_schedule_and_types_its_result():
    data = _data()
    ptq = compress_model(_model(), data, data, CompressionSpec(
        schedule="ptq", scheme="duq", bits=4, method="magnitude", sparsity=0.5), FT)
    assert isinstance(ptq, CompressionResult)
    assert ptq.ptq_accuracy == ptq.accuracy and ptq.removed_fraction == 0.0
    assert ptq.masked_fraction == pytest.approx(0.5, abs=0.01)
    joint = compress_model(_model(), data, data, CompressionSpec(
        schedule="joint", scheme="duq", bits=4, method="magnitude", sparsity=0.75), FT)
    assert joint.masked_fraction == pytest.approx(0.75, abs=0.01)
    assert [s["stage"] for s in joint.stages] == ["pretrained", "joint fine-tune"]
    qat = compress_model(_model(), data, data, CompressionSpec(schedule="qat", scheme="duq",
                                                               bits=4), FT)
    assert qat.ptq_accuracy is not None and qat.masked_fraction == 0.0
    base = compress_model(_model(), data, data, CompressionSpec(schedule="baseline"), FT)
    assert base.accuracy == base.best_accuracy and base.stages == []


def test_a_new_schedule_is_one_registered_class():
    from spikelite.compress.schedules.base import SCHEDULES as REG

    @REG.register("test-halve-lr")
    class HalveLR(Schedule):
        summary = "test only"
        trains = False

        @classmethod
        def run(cls, model, data, spec, finetune, ctx):
            return CompressionResult(model=model, schedule=spec.schedule, accuracy=0.5,
                                     best_accuracy=0.5)

    try:
        spec = CompressionSpec(schedule="test-halve-lr")
        res = compress_model(_model(), _data(), _data(), spec, FT)
        assert res.schedule == "test-halve-lr" and res.accuracy == 0.5
    finally:
        REG._entries.pop("test-halve-lr")


def test_renamed_lr_schedule_key_is_accepted_and_keeps_run_keys():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        old = Recipe.model_validate({"finetune": {"epochs": 2, "schedule": "constant"}})
    assert any("lr_schedule" in str(w.message) for w in caught)
    new = Recipe.model_validate({"finetune": {"epochs": 2, "lr_schedule": "constant"}})
    assert old.finetune.lr_schedule == "constant"
    p = PointSpec(schedule="joint", scheme="duq", bits=4)
    assert run_key(old, p) == run_key(new, p)
    with pytest.raises(SpikeliteError, match="old name"):
        parse_record({"finetune": {"schedule": "constant", "lr_schedule": "cosine"}},
                     "r", Recipe)


def test_point_spec_is_the_compression_spec_with_a_name():
    p = PointSpec(schedule="joint", scheme="duq", bits=4, name="mine")
    assert isinstance(p, CompressionSpec) and p.label == "mine"
    assert p.spec() == CompressionSpec(schedule="joint", scheme="duq", bits=4)
    assert p.spec().label == "joint-duq4"


def test_every_schedule_has_a_row_in_the_compression_docs():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "compression.md").read_text()
    missing = [n for n in SCHEDULES.names() if f"| `{n}` |" not in doc]
    assert not missing, f"schedules without a row in docs/compression.md: {missing}"


def test_fine_tuning_off_accepts_any_warmup_and_stages_must_fit_it():
    assert FinetuneSpec(epochs=0, warmup_epochs=1).epochs == 0
    CompressionSpec(schedule="ptq", scheme="duq", bits=4,
                    finetune={"epochs": 0, "warmup_epochs": 0.5})
    with pytest.raises(SpikeliteError, match="longer than the prune \\+ fine-tune stage"):
        CompressionSpec(schedule="cumulative", scheme="duq", bits=4, method="magnitude",
                        sparsity=0.5, finetune={"epochs": 4, "warmup_epochs": 3})
    with pytest.raises(SpikeliteError, match="longer than the second stage"):
        CompressionSpec(schedule="qp", scheme="rescaw", bits=4, method="svs", sparsity=0.5,
                        prune_epochs=3, finetune={"epochs": 4, "warmup_epochs": 2})


def test_schedule_names_have_one_spelling():
    spec = CompressionSpec(schedule="PTQ", scheme="duq", bits=4)
    assert spec.schedule == "ptq" and spec.label == "ptq-duq4"


def test_channel_method_at_zero_is_no_pruning():
    cfg = CompressConfig(checkpoint="ck", quant={"scheme": "rescaw", "bits": 4},
                         prune={"method": "svs", "sparsity": 0.0})
    assert cfg.spec().schedule == "qat" and cfg.spec().method is None
    with pytest.raises(SpikeliteError, match="drop the overrides"):
        CompressConfig(checkpoint="ck", quant={"scheme": "rescaw", "bits": 4,
                                               "overrides": {"conv1.module": 2}},
                       prune={"method": "svs", "sparsity": 0.5}, finetune={"epochs": 2})
