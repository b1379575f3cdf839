"""Bad-input corpus, non-finite numbers and exactness (issue #12, items 1 and 8).

Every case asserts the exact outcome: a CLI command ends with exit code 2 and one
``error:`` line naming the tensor (or key) and the fix; the Python API raises
:class:`SpikeliteError` with the same message; an exactness case checks the exact number.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from torch.utils.data import TensorDataset
from typer.testing import CliRunner

from spikelite.cli import app
from spikelite.core import LIF, Flatten, TimeDistributed
from spikelite.core.checks import NonFiniteError, bad_tensors, check_tensors, describe_bad
from spikelite.errors import SpikeliteError
from spikelite.train import TrainConfig, evaluate, fit, load_model

runner = CliRunner()

NAN, INF = float("nan"), float("inf")


# -- a tiny trained checkpoint (csnn on 16 static digits, with BatchNorm) and bad copies --

@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("finite")
    mp = pytest.MonkeyPatch()
    mp.setenv("SPIKELITE_CACHE", str(root / "cache"))
    res = runner.invoke(app, ["train", "--dataset", "digits", "--limit", "16", "--epochs", "1",
                              "--time-steps", "3", "--batch-size", "16", "--out",
                              str(root / "run"), "--no-progress"])
    assert res.exit_code == 0, res.output
    yield root / "run" / "best"
    mp.undo()


def _set(key: str, index: tuple[int, ...] | slice, value: float):
    def corrupt(state: dict[str, torch.Tensor]) -> None:
        state[key][index] = value
    return corrupt


#: name → (corruption of the state dict, the substring the error must contain)
CORRUPTIONS = {
    "nan-conv-weight": (_set("conv1.module.weight", (0, 0, 0, 0), NAN),
                        "weight 'conv1.module.weight' has 1 NaN value"),
    "inf-fc-weight": (_set("fc.module.weight", (0, 0), INF),
                      "weight 'fc.module.weight' has 1 infinite value"),
    "neginf-fc-bias": (_set("fc.module.bias", (1,), -INF),
                       "weight 'fc.module.bias' has 1 infinite value"),
    "negative-running-var": (_set("bn1.module.running_var", slice(0, 2), -1.0),
                             "BatchNorm statistic 'bn1.module.running_var' has 2 negative "
                             "values"),
    "nan-running-mean": (_set("bn2.module.running_mean", (0,), NAN),
                         "BatchNorm statistic 'bn2.module.running_mean' has 1 NaN value"),
    "nan-threshold": (_set("lif1.threshold", (), NAN),
                      "neuron parameter 'lif1.threshold' has 1 NaN value"),
}


@pytest.fixture(scope="module")
def corrupt(good: Path) -> dict[str, Path]:
    out = {}
    for name, (fn, _) in CORRUPTIONS.items():
        path = good.parent.parent / f"bad-{name}"
        shutil.copytree(good, path)
        state = load_file(str(path / "model.safetensors"))
        fn(state)
        save_file(state, str(path / "model.safetensors"))
        out[name] = path
    return out


def _command(cmd: str, ckpt: Path, tmp: Path) -> list[str]:
    return {
        "eval": ["eval", str(ckpt)],
        "profile": ["profile", str(ckpt), "--limit", "8"],
        "export-nir": ["export", str(ckpt), "--out", str(tmp / "m.nir")],
        "export-package": ["export", str(ckpt), "--to", "package", "--out", str(tmp / "pkg")],
        "compress": ["compress", str(ckpt), "--quant", "duq:4", "--epochs", "0", "--out",
                     str(tmp / "c"), "--no-progress"],
    }[cmd]


@pytest.mark.parametrize("cmd", ["eval", "profile", "export-nir", "export-package", "compress"])
@pytest.mark.parametrize("bad", list(CORRUPTIONS))
def test_cli_refuses_a_non_finite_checkpoint(bad: str, cmd: str, corrupt: dict[str, Path],
                                             tmp_path: Path) -> None:
    ckpt = corrupt[bad]
    res = runner.invoke(app, _command(cmd, ckpt, tmp_path))
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    msg = " ".join(res.output.split())
    assert msg.startswith("error:"), msg
    assert f"checkpoint '{ckpt}'" in msg
    assert CORRUPTIONS[bad][1] in msg
    assert "retrain or load an earlier checkpoint" in msg
    assert not (tmp_path / "m.nir").exists() and not (tmp_path / "pkg").exists()
    assert not (tmp_path / "c" / "final").exists()


@pytest.mark.parametrize("bad", list(CORRUPTIONS))
def test_load_model_refuses_a_non_finite_checkpoint(bad: str, corrupt: dict[str, Path]) -> None:
    with pytest.raises(SpikeliteError, match="checkpoint") as info:
        load_model(corrupt[bad])
    assert CORRUPTIONS[bad][1] in str(info.value)


def test_a_good_checkpoint_still_loads_and_evaluates(good: Path) -> None:
    res = runner.invoke(app, ["eval", str(good), "--json"])
    assert res.exit_code == 0, res.output


# -- the Python API on a model held in memory ---------------------------------------------

def _nan_model(good: Path) -> nn.Module:
    model, _ = load_model(good)
    with torch.no_grad():
        model.conv1.module.weight[0, 0, 0, 0] = NAN
    return model


def _digits(n: int = 8, T: int = 3) -> TensorDataset:
    g = torch.Generator().manual_seed(0)
    return TensorDataset(torch.rand(n, T, 1, 8, 8, generator=g), torch.arange(n) % 10)


def _api_evaluate(model: nn.Module, tmp: Path) -> None:
    evaluate(model, _digits(), device="cpu")


def _api_profile(model: nn.Module, tmp: Path) -> None:
    from spikelite.hardware import profile

    profile(model, _digits())


def _api_export(model: nn.Module, tmp: Path) -> None:
    from spikelite.export import export_model

    export_model(model.eval(), {}, tmp / "never-written.nir", to="nir")


def _api_compress(model: nn.Module, tmp: Path) -> None:
    from spikelite.compress import CompressionSpec, compress_model

    spec = CompressionSpec(schedule="ptq", scheme="duq", bits=4)
    compress_model(model, _digits(), _digits(), spec, device="cpu")


def _api_fit(model: nn.Module, tmp: Path) -> None:
    fit(model, _digits(), None, TrainConfig(epochs=1, batch_size=8), device="cpu",
        progress=False)


@pytest.mark.parametrize(("api", "where"), [
    (_api_evaluate, "the model to evaluate"), (_api_profile, "the model to profile"),
    (_api_export, "the model to export"), (_api_compress, "the model to compress"),
    (_api_fit, "the model to train"),
])
def test_api_refuses_non_finite_weights(api, where: str, good: Path, tmp_path: Path) -> None:
    with pytest.raises(SpikeliteError) as info:
        api(_nan_model(good), tmp_path)
    msg = str(info.value)
    assert msg.startswith(f"{where}: weight 'conv1.module.weight' has 1 NaN value"), msg
    assert list(tmp_path.iterdir()) == []


# -- NaN/Inf inputs -------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "what"), [(NAN, "NaN value"), (INF, "infinite value"),
                                             (-INF, "infinite value")])
@pytest.mark.parametrize("reset", ["zero", "subtract", "none"])
@pytest.mark.parametrize("leak", [{"beta": 0.5}, {"tau": 2.0}])
@pytest.mark.parametrize("fused", [True, False])
def test_lif_refuses_a_non_finite_input(value: float, what: str, reset: str, leak: dict,
                                        fused: bool) -> None:
    x = torch.rand(4, 2, 3)
    x[-1, 0, 2] = value  # at the last step: the check must not miss a late one
    m = LIF(**leak, reset=reset, fused=fused)
    with pytest.raises(NonFiniteError, match=f"LIF input of shape \\(4, 2, 3\\) has 1 {what}"):
        m(x)
    assert m.mem is None  # no non-finite state carried into the next call


@pytest.mark.parametrize("value", [NAN, INF, -INF])
def test_lif_with_a_fixed_point_membrane_refuses_a_non_finite_input(value: float) -> None:
    x = torch.rand(4, 2, 3)
    x[0, 1, 1] = value  # the 8-bit membrane would saturate ±inf to a finite value
    with pytest.raises(NonFiniteError, match="LIF input of shape"):
        LIF(state_bits=8)(x)


def test_lif_membrane_overflow_on_a_finite_input_is_named() -> None:
    x = torch.full((4, 1, 2), -3e38)  # no reset below θ: the membrane sums past float32
    with pytest.raises(NonFiniteError, match="LIF membrane overflowed .* finite input"):
        LIF(beta=1.0, reset="none")(x)


def test_lif_error_names_the_layer_inside_a_zoo_model(good: Path) -> None:
    model, _ = load_model(good)
    x = torch.rand(3, 2, 1, 8, 8)
    with torch.no_grad():
        model.conv2.module.weight.fill_(INF)  # the first neuron sees finite input, lif2 not
    with pytest.raises(NonFiniteError, match="^layer 'lif2': LIF input of shape"):
        model(x)


@pytest.mark.parametrize("value", [NAN, INF, -INF])
def test_profile_refuses_a_non_finite_input(value: float, good: Path) -> None:
    from spikelite.hardware import profile

    model, _ = load_model(good)
    x = torch.rand(3, 4, 1, 8, 8)
    x[0, 1, 0, 0, 0] = value
    with pytest.raises(SpikeliteError, match="profile input batch 1 has 1 "):
        profile(model, x)


def test_evaluate_refuses_a_non_finite_input_naming_the_samples(good: Path) -> None:
    model, _ = load_model(good)
    data = _digits(12)
    data.tensors[0][9, 0, 0, 0, 0] = NAN
    with pytest.raises(SpikeliteError, match="evaluation batch 2 \\(samples 8–11\\) has 1 NaN"):
        evaluate(model, data, batch_size=8, device="cpu")


def test_fit_refuses_a_non_finite_training_input(good: Path) -> None:
    model, _ = load_model(good)
    data = _digits(8)
    data.tensors[0][3] = INF
    with pytest.raises(SpikeliteError, match="training \\(epoch 1\\) batch 1 .* infinite"):
        fit(model, data, None, TrainConfig(epochs=1, batch_size=8), device="cpu",
            progress=False)


def _overflowing() -> nn.Module:
    """Finite weights whose output overflows to ±inf on a finite input (no neuron)."""
    lin = nn.Linear(4, 2)
    with torch.no_grad():
        lin.weight.fill_(1e30)
        lin.bias.zero_()
    return nn.Sequential(Flatten(), TimeDistributed(lin))


def test_evaluate_refuses_a_non_finite_output() -> None:
    data = TensorDataset(torch.full((2, 3, 4), 1e30), torch.zeros(2, dtype=torch.long))
    with pytest.raises(SpikeliteError, match="the model output on evaluation batch 1 has 12 "
                                             "infinite values"):
        evaluate(_overflowing(), data, device="cpu")


def test_profile_refuses_a_non_finite_output() -> None:
    from spikelite.hardware import profile

    with pytest.raises(SpikeliteError, match="the model output on profile input batch 1 has"):
        profile(_overflowing(), torch.full((3, 2, 4), 1e30))


# -- training: configs that cannot train, and a run that diverges ------------------------

@pytest.mark.parametrize(("line", "key"), [
    ("lr: .inf", "lr"), ("lr: .nan", "lr"), ("weight_decay: .nan", "weight_decay"),
    ("weight_decay: .inf", "weight_decay"), ("warmup_epochs: .nan", "warmup_epochs"),
    ("grad_clip: .inf", "grad_clip"), ("momentum: .nan", "momentum"),
])
def test_train_refuses_a_non_finite_config(line: str, key: str, tmp_path: Path) -> None:
    cfg = tmp_path / "run.yaml"
    cfg.write_text(f"data: {{name: digits, time_steps: 3, limit: 16}}\ntrain: {{{line}}}\n"
                   f"out: {tmp_path / 'out'}\n")
    res = runner.invoke(app, ["train", "--config", str(cfg), "--no-progress"])
    assert res.exit_code == 2, res.output
    assert f"{key}: Input should be a finite number" in res.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args", [["train", "--lr", "inf"], ["train", "--lr", "nan"],
                                  ["train", "--regularizer", "l1:nan"],
                                  ["compress", "ck", "--prune", "nan"],
                                  ["compress", "ck", "--quant", "duq:4", "--lr", "inf"]])
def test_cli_refuses_non_finite_flags(args: list[str], tmp_path: Path) -> None:
    res = runner.invoke(app, [*args, "--out", str(tmp_path / "out"), "--no-progress"])
    assert res.exit_code == 2, res.output
    assert "Input should be a finite number" in res.output


def _toy() -> tuple[nn.Module, TensorDataset]:
    torch.manual_seed(0)
    model = nn.Sequential(Flatten(), TimeDistributed(nn.Linear(6, 8)), LIF(beta=0.8),
                          TimeDistributed(nn.Linear(8, 2)))
    x = (torch.rand(8, 4, 6) < 0.5).float()
    return model, TensorDataset(x, torch.arange(8) % 2)


def test_divergence_with_one_batch_per_epoch_stops_at_the_first_step(tmp_path: Path) -> None:
    model, data = _toy()
    # one batch per epoch; the first step overflows every weight to ±inf (1000·1e38·w)
    cfg = TrainConfig(epochs=3, batch_size=8, optimizer="sgd", momentum=0.0, lr=1e3,
                      weight_decay=1e38)
    with pytest.raises(SpikeliteError, match="training diverged at epoch 1, step 1: after the "
                                             "optimizer step weight '1.module.weight' has"):
        fit(model, data, data, cfg, out_dir=tmp_path, device="cpu", progress=False)
    assert not (tmp_path / "best").exists() and not (tmp_path / "last").exists()


@pytest.mark.parametrize("optimizer", ["adam", "adamw"])
def test_an_lr_past_float32_range_stops_with_a_named_error(optimizer: str,
                                                          tmp_path: Path) -> None:
    model, data = _toy()
    cfg = TrainConfig(epochs=3, batch_size=8, optimizer=optimizer, lr=1e38)  # lr/(1−β₁) > max
    with pytest.raises(SpikeliteError, match="training diverged at epoch 1, step 1: the "
                                             "optimizer step overflowed .*lower the learning "
                                             "rate \\(lr=1e\\+38\\)"):
        fit(model, data, data, cfg, out_dir=tmp_path, device="cpu", progress=False)
    assert not (tmp_path / "last").exists()


def test_huge_finite_weights_stop_training_at_the_layer_that_overflows(tmp_path: Path) -> None:
    model, data = _toy()
    with torch.no_grad():
        model[1].module.weight.fill_(3e38)  # finite, but 6 of them sum past float32's range
    with pytest.raises(SpikeliteError, match="training stopped at epoch 1, step 1: layer '2': "
                                             "LIF input of shape .* infinite values"):
        fit(model, data, data, TrainConfig(epochs=1, batch_size=8), out_dir=tmp_path,
            device="cpu", progress=False)
    assert not (tmp_path / "last").exists()


def test_cli_divergence_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPIKELITE_CACHE", str(tmp_path / "cache"))
    cfg = tmp_path / "run.yaml"
    cfg.write_text("model: {name: mlp, kwargs: {hidden: [16]}}\n"
                   "data: {name: digits, time_steps: 3, limit: 16}\n"
                   "train: {epochs: 2, batch_size: 16, optimizer: sgd, momentum: 0.0, "
                   "lr: 1000.0, weight_decay: 1.0e38}\n"
                   f"out: {tmp_path / 'out'}\n")
    res = runner.invoke(app, ["train", "--config", str(cfg), "--no-progress"])
    assert res.exit_code == 2, res.output
    assert "training diverged at epoch 1, step 1" in res.output
    assert "lower the learning rate" in res.output
    assert not (tmp_path / "out" / "best").exists()


# -- the helper itself ----------------------------------------------------------------------

@pytest.mark.parametrize(("tensor", "expected"), [
    (torch.tensor([1.0, NAN, NAN]), "weight 'fc.weight' has 2 NaN values"),
    (torch.tensor([INF, -INF, NAN]), "weight 'fc.weight' has 1 NaN and 2 infinite values"),
    (torch.tensor([1.0, 2.0]), None),
    (torch.tensor([1, 2]), None),  # integer tensors cannot hold NaN
])
def test_bad_tensors_counts(tensor: torch.Tensor, expected: str | None) -> None:
    got = bad_tensors([("fc.weight", tensor)])
    assert got == ([] if expected is None else [expected])


@pytest.mark.parametrize(("tensor", "expected"), [
    # Σ overflows to inf (or inf − inf = NaN): the exact elementwise check decides
    (torch.full((4,), 3e38), None),
    (torch.tensor([3e38, 3e38, -3e38, -3e38, 1.0]), None),
    (torch.full((8,), 60000.0, dtype=torch.float16), None),
    (torch.tensor([3e38, 3e38, INF]), "1 infinite value"),
    (torch.tensor([[1.0, NAN], [2.0, 3.0]], dtype=torch.complex64), "1 NaN value"),
])
def test_describe_bad_with_a_sum_that_overflows(tensor: torch.Tensor,
                                                expected: str | None) -> None:
    assert describe_bad(tensor) == expected


def test_check_tensors_names_three_and_counts_the_rest() -> None:
    state = {f"l{i}.weight": torch.tensor([NAN]) for i in range(5)}
    with pytest.raises(NonFiniteError, match=r"^x: weight 'l0.weight' .*'l2.weight' has 1 NaN "
                                             r"value \(and 2 more tensors\); fix it$"):
        check_tensors(state, "x", "fix it")


def test_v_reset_must_be_finite() -> None:
    with pytest.raises(SpikeliteError, match="v_reset must be a finite number, got nan"):
        LIF(v_reset=NAN)


# -- exactness: pruned counts, neuron parameters in float64, event binning ---------------

@pytest.mark.parametrize(("p", "n", "k"), [(0.29, 100, 29), (0.57, 100, 57), (0.58, 100, 58),
                                           (0.58, 50, 29), (0.29, 3000, 870), (0.5, 7, 3),
                                           (0.0, 10, 0), (0.999, 1000, 999)])
def test_pruned_count_is_exact(p: float, n: int, k: int) -> None:
    from spikelite.prune.unstructured import pruned_count

    assert pruned_count(p, n) == k


@pytest.mark.parametrize("scope", ["global", "layer"])
def test_prune_029_of_100_weights_prunes_29(scope: str) -> None:
    from spikelite.prune import prune_unstructured_

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 10, bias=False))
    prune_unstructured_(model, 0.29, scope=scope)
    assert int((model[0].weight == 0).sum()) == 29


@pytest.mark.parametrize(("kw", "attr", "value"), [
    ({"beta": 1 - 1 / 3}, "leak", 1 - 1 / 3), ({"tau": 1 / 0.3}, "leak", 1 / 0.3),
    ({"threshold": 0.1}, "threshold", 0.1), ({"v_reset": -0.3}, "v_reset", -0.3),
    ({"beta": 0.9, "learn_leak": True, "channels": 3}, "leak", 0.9),
])
def test_neuron_parameters_follow_the_module_dtype_exactly(kw: dict, attr: str,
                                                           value: float) -> None:
    m = LIF(**kw)
    assert getattr(m, attr).dtype == torch.float32
    m = m.double()
    t = getattr(m, attr)
    assert t.dtype == torch.float64
    assert torch.all(t == value), t  # the Python float given, not its float32 rounding
    m = m.float()
    assert torch.all(getattr(m, attr) == torch.tensor(value, dtype=torch.float32))


def test_a_changed_parameter_is_converted_not_reset() -> None:
    m = LIF(beta=0.5, learn_leak=True)
    with torch.no_grad():
        m.leak.fill_(0.3)  # trained or loaded: the given 0.5 no longer applies
    assert m.double().leak.item() == torch.tensor(0.3, dtype=torch.float32).item()


def test_float64_lif_fused_equals_eager_with_exact_beta() -> None:
    x = torch.randn(6, 3, 5, dtype=torch.float64)
    a = LIF(beta=1 - 1 / 3, fused=True).double()
    b = LIF(beta=1 - 1 / 3, fused=False).double()
    assert torch.equal(a(x), b(x))
    assert torch.equal(a.mem, b.mem)


def _tonic_rule(events: np.ndarray, sensor: tuple[int, int, int], T: int) -> np.ndarray:
    """tonic's ``ToFrame(n_time_bins=T)`` as docs/data.md writes it."""
    t = events["t"]
    w = (t[-1] - t[0]) // T
    frames = np.zeros((T, sensor[2], sensor[1], sensor[0]), np.float32)
    for k in range(T):
        sel = (t >= t[0] + k * w) & (t < t[0] + (k + 1) * w)
        np.add.at(frames, (k, events["p"][sel].astype(int), events["y"][sel], events["x"][sel]),
                  1)
    return frames


def _stream(seed: int, n: int = 60) -> np.ndarray:
    from spikelite.data import make_events

    rng = np.random.default_rng(seed)
    return make_events(rng.integers(0, 34, n), rng.integers(0, 34, n),
                       np.sort(rng.integers(0, 300_000, n)), rng.integers(0, 2, n))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_to_frames_keeps_every_event_where_tonic_drops_the_last(seed: int) -> None:
    from spikelite.data import to_frames

    ev = _stream(seed)
    ours = to_frames(ev, (34, 34, 2), 10)
    theirs = _tonic_rule(ev, (34, 34, 2), 10)
    assert ours.sum() == len(ev)  # every event counted
    assert theirs.sum() < len(ev)  # the documented difference: tonic drops the last one(s)
    last = ev[-1]
    assert ours[9, last["p"], last["y"], last["x"]] >= 1


def test_tonic_to_frame_follows_the_documented_rule() -> None:
    tonic = pytest.importorskip("tonic")
    for seed in range(3):
        ev = _stream(seed)
        got = tonic.functional.to_frame_numpy(ev, (34, 34, 2), n_time_bins=10)
        np.testing.assert_array_equal(got, _tonic_rule(ev, (34, 34, 2), 10))


def test_a_short_stream_is_not_all_zeros_unlike_tonic() -> None:
    from spikelite.data import make_events, to_frames

    ev = make_events([1, 2, 3], [1, 1, 1], [0, 3, 5], [1, 0, 1])  # span 5 µs < T = 10
    assert _tonic_rule(ev, (34, 34, 2), 10).sum() == 0
    assert to_frames(ev, (34, 34, 2), 10).sum() == 3
