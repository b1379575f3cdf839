"""Bad input corpus (issue #12, items 2, 3 and 7): every failure ends in one line
``error: …`` naming the input and the fix with exit code 2, never a traceback and never
torch's advice to unpickle; resource exhaustion (alias bombs, a full disk) is refused or
cleaned up; ``train --out`` never replaces another run's checkpoint or deletes files
spikelite did not write. ``--debug`` / ``SPIKELITE_DEBUG=1`` show the traceback."""

from __future__ import annotations

import errno
import json
import os
import pickle
import shutil
import sqlite3
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset
from typer.testing import CliRunner

from spikelite.cli import app
from spikelite.errors import SpikeliteError, check_output_dir, os_failure

runner = CliRunner()

#: a tiny run: an MLP with 8 hidden neurons on 20 samples of the embedded digits, T = 2
TRAIN = ["train", "--model", "mlp", "--dataset", "digits", "--model-arg", "hidden=[8]",
         "--time-steps", "2", "--encoding", "direct", "--limit", "20", "--epochs", "1",
         "--no-progress"]


def fails(args: list[str], needle: str, **kw) -> str:
    """Run the CLI; assert exit 2, one ``error:`` message containing ``needle``, no
    traceback and no advice to load with ``weights_only=False``. Returns the output."""
    res = runner.invoke(app, [str(a) for a in args], **kw)
    out = res.output
    assert res.exit_code == 2, out
    assert "error:" in out and needle in out, out
    assert "Traceback" not in out and "weights_only" not in out, out
    return out


def bomb(levels: int = 7, width: int = 9) -> str:
    """A "billion laughs" YAML: ``levels`` nested aliases of ``width`` each (< 1 KB)."""
    lines = [f"a0: &a0 [{', '.join(['lol'] * width)}]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """One tiny training run (OUT with best/, last/ and trainer.pt), shared read-only."""
    root = tmp_path_factory.mktemp("trained")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SPIKELITE_CACHE", str(root / "cache"))
        res = runner.invoke(app, [*TRAIN, "--out", str(root / "run")])
    assert res.exit_code == 0, res.output
    return root / "run"


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SPIKELITE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("SPIKELITE_DEBUG", raising=False)


@pytest.fixture
def ckpt(trained, tmp_path) -> Path:
    """A private copy of the trained checkpoint ``best/``, free to damage."""
    return Path(shutil.copytree(trained / "best", tmp_path / "ck"))


@pytest.fixture
def readonly(tmp_path, monkeypatch):
    """A folder nobody may write into (chmod 555; as root, where permissions do not bind,
    creating a file in it fails with EACCES as it would for a user)."""
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    if os.access(ro, os.W_OK):  # root
        real = tempfile.TemporaryFile

        def refuse(*args, **kwargs):
            if Path(str(kwargs.get("dir", ""))).resolve().is_relative_to(ro.resolve()):
                raise PermissionError(errno.EACCES, "Permission denied", str(kwargs["dir"]))
            return real(*args, **kwargs)

        monkeypatch.setattr(tempfile, "TemporaryFile", refuse)
    yield ro
    ro.chmod(0o755)


# --- damaged checkpoints: model.safetensors, config.json --------------------------------

def _weights(d: Path) -> Path:
    return d / "model.safetensors"


def _header(d: Path) -> tuple[dict, bytes]:
    raw = _weights(d).read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    return json.loads(raw[8:8 + n]), raw[8 + n:]


def _write_header(d: Path, header: dict, body: bytes) -> None:
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    _weights(d).write_bytes(struct.pack("<Q", len(h)) + h + body)


def _move_offsets(d: Path) -> None:
    header, body = _header(d)
    key = next(k for k in header if k != "__metadata__")
    header[key]["data_offsets"] = [0, 10**9]
    _write_header(d, header, body)


def _rename_tensor(d: Path) -> None:
    header, body = _header(d)
    key = next(k for k in header if k != "__metadata__")
    header["renamed." + key] = header.pop(key)
    _write_header(d, header, body)


def _int_tensor(d: Path) -> None:
    from safetensors.torch import load_file, save_file

    state = load_file(str(_weights(d)))
    state["fc1.module.weight"] = state["fc1.module.weight"].to(torch.int32)
    save_file(state, str(_weights(d)))


def _drop_tensor(d: Path) -> None:
    from safetensors.torch import load_file, save_file

    state = load_file(str(_weights(d)))
    del state["fc.module.bias"]
    save_file(state, str(_weights(d)))


def _extra_tensor(d: Path) -> None:
    from safetensors.torch import load_file, save_file

    state = load_file(str(_weights(d)))
    state["stowaway"] = torch.zeros(3)
    save_file(state, str(_weights(d)))


def _link(d: Path, target: Path) -> None:
    _weights(d).unlink()
    _weights(d).symlink_to(target)


def _text_file(d: Path) -> Path:
    f = d.parent / "notes.txt"
    f.write_text("root:x:0:0:root:/root:/bin/bash\n" * 20)
    return f


def _config(edit: Callable[[dict], object]) -> Callable[[Path], None]:
    def apply(d: Path) -> None:
        cfg = json.loads((d / "config.json").read_text())
        new = edit(cfg)
        (d / "config.json").write_text(json.dumps(cfg if new is None else new))
    return apply


def _set(path: str, value: object) -> Callable[[dict], None]:
    def edit(cfg: dict) -> None:
        node = cfg
        *parents, leaf = path.split(".")
        for p in parents:
            node = node[p]
        node[leaf] = value
    return edit


def _del(key: str) -> Callable[[dict], None]:
    return lambda cfg: cfg.pop(key) and None


DAMAGE = [
    ("weights-truncated", lambda d: _weights(d).write_bytes(_weights(d).read_bytes()[:300]),
     "is not a valid safetensors file"),
    ("weights-zero-length", lambda d: _weights(d).write_bytes(b""), "is empty"),
    ("weights-only-8-bytes", lambda d: _weights(d).write_bytes(_weights(d).read_bytes()[:8]),
     "is not a valid safetensors file"),
    ("weights-bad-header", lambda d: _weights(d).write_bytes(
        _weights(d).read_bytes()[:8] + b"{garbage" + _weights(d).read_bytes()[16:]),
     "is not a valid safetensors file"),
    ("weights-huge-header-length", lambda d: _weights(d).write_bytes(
        (2**62).to_bytes(8, "little") + _weights(d).read_bytes()[8:]),
     "is not a valid safetensors file"),
    ("weights-offsets-past-end", _move_offsets, "is not a valid safetensors file"),
    ("weights-random-bytes", lambda d: _weights(d).write_bytes(os.urandom(4096)),
     "is not a valid safetensors file"),
    ("weights-symlink-to-text", lambda d: _link(d, _text_file(d)), "(a link to"),
    ("weights-symlink-to-folder", lambda d: _link(d, d.parent), "has no model.safetensors"),
    ("weights-missing", lambda d: _weights(d).unlink(), "has no model.safetensors"),
    ("weights-renamed-tensor", _rename_tensor, "tensor(s) the file lacks"),
    ("weights-missing-tensor", _drop_tensor, "first 'fc.module.bias'"),
    ("weights-extra-tensor", _extra_tensor, "first 'stowaway'"),
    ("weights-int-tensor", _int_tensor, "tensor 'fc1.module.weight' is torch.int32"),
    ("config-not-json", lambda d: (d / "config.json").write_text("{not json"),
     "is not valid JSON"),
    ("config-empty", lambda d: (d / "config.json").write_text(""), "is not valid JSON"),
    ("config-not-utf8", lambda d: (d / "config.json").write_bytes(b"\xff\xfe{\x00}"),
     "is not UTF-8 JSON text"),
    ("config-a-list", _config(lambda c: [1, 2]), "must hold a JSON object"),
    ("config-a-string", _config(lambda c: "model"), "must hold a JSON object"),
    ("config-missing", lambda d: (d / "config.json").unlink(), "not a spikelite checkpoint"),
    ("config-no-model", _config(_del("model")), "has no 'model' entry"),
    ("config-model-a-list", _config(_set("model", [1])), "has a 'model' entry that is a list"),
    ("config-model-name-a-number", _config(_set("model.name", 5)), "has no 'model' entry"),
    ("config-unknown-model", _config(_set("model.name", "nosuch")), "unknown model 'nosuch'"),
    ("config-kwargs-a-list", _config(_set("model.kwargs", [1])),
     "model.kwargs must be an object"),
    ("config-unknown-kwarg", _config(_set("model.kwargs.bogus", 1)), "'bogus'"),
    ("config-hidden-mismatch", _config(_set("model.kwargs.hidden", [16])),
     "tensor 'fc1.module.weight' has shape [8, 64] in the file but [16, 64] in the model"),
    ("config-classes-mismatch", _config(_set("model.kwargs.num_classes", 5)),
     "tensor 'fc.module.weight' has shape [10, 8] in the file but [5, 8] in the model"),
    ("config-hidden-a-string", _config(_set("model.kwargs.hidden", "abc")),
     "hidden[0] must be a positive int"),
    ("config-parametrizations-a-list", _config(_set("parametrizations", [1])),
     "unknown layers [1]"),
    ("config-parametrizations-not-lists", _config(_set("parametrizations", {"fc1.module": 5})),
     "cannot rebuild the quantizers and masks"),
    ("config-quantizer-without-scheme", _config(_set("parametrizations",
                                                     {"fc1.module": [{"kind": "quant"}]})),
     "cannot rebuild the quantizers and masks"),
    ("config-quant-a-number", _config(_set("quant", 7)), "cannot rebuild the quantizers"),
    ("config-unknown-layer", _config(_set("parametrizations", {"nolayer": []})),
     "unknown layers"),
    ("config-data-a-string", _config(_set("data", "digits")),
     "has a 'data' entry that is a str"),
    ("config-data-time-steps-0", _config(_set("data.time_steps", 0)), "time_steps"),
    ("config-data-unknown-dataset", _config(_set("data.name", "nosuch")),
     "unknown dataset 'nosuch'"),
]


@pytest.mark.parametrize(("damage", "needle"), [pytest.param(f, n, id=i) for i, f, n in DAMAGE])
def test_eval_of_a_damaged_checkpoint(ckpt, damage, needle):
    damage(ckpt)
    fails(["eval", ckpt], needle)


@pytest.mark.parametrize("command", [
    pytest.param(lambda c, t: ["profile", c, "--limit", "4"], id="profile"),
    pytest.param(lambda c, t: ["export", c, "--out", t / "m.nir"], id="export-nir"),
    pytest.param(lambda c, t: ["export", c, "--to", "package", "--out", t / "pkg"],
                 id="export-package"),
    pytest.param(lambda c, t: ["compress", c, "--quant", "rescaw:4", "--epochs", "0",
                               "--out", t / "c", "--no-progress"], id="compress"),
])
@pytest.mark.parametrize(("damage", "needle"), [
    pytest.param(f, n, id=i) for i, f, n in DAMAGE
    if i in ("weights-truncated", "config-not-json", "config-hidden-mismatch")])
def test_every_command_reports_a_damaged_checkpoint(ckpt, tmp_path, command, damage, needle):
    damage(ckpt)
    fails(command(ckpt, tmp_path), needle)
    assert not (tmp_path / "m.nir").exists() and not (tmp_path / "pkg").exists()


@pytest.mark.parametrize("where", ["missing", "a-file"])
def test_eval_of_something_that_is_not_a_checkpoint(tmp_path, where):
    path = tmp_path / "nothing"
    if where == "a-file":
        path.write_text("x")
    fails(["eval", path], "is not a spikelite checkpoint")


# --- resume from a damaged trainer.pt --------------------------------------------------

class _Payload:
    def __reduce__(self):
        return (print, ("this must never run",))


def _trainer(out: Path) -> Path:
    return out / "last" / "trainer.pt"


def _save(obj: object) -> Callable[[Path], None]:
    return lambda f: torch.save(obj, f)


@pytest.mark.parametrize(("damage", "needle"), [
    pytest.param(lambda f: f.write_bytes(f.read_bytes()[: f.stat().st_size // 2]),
                 "is truncated, damaged", id="truncated"),
    pytest.param(lambda f: f.write_bytes(b""), "is truncated, damaged", id="zero-length"),
    pytest.param(lambda f: f.write_bytes(b"garbage" * 10), "is truncated, damaged",
                 id="garbage"),
    pytest.param(_save({"x": _Payload()}), "never unpickles", id="pickled-object"),
    pytest.param(lambda f: f.write_bytes(pickle.dumps({"x": _Payload()})),
                 "never unpickles", id="raw-pickle"),
    pytest.param(_save({"epoch": 0}), "lacks optimizer", id="missing-keys"),
    pytest.param(_save([1, 2, 3]), "holds a list, not a dict", id="a-list"),
    pytest.param(lambda f: torch.save({**torch.load(f, weights_only=True),
                                       "optimizer": {"state": {}, "param_groups": []}}, f),
                 "does not fit this run", id="foreign-optimizer"),
])
def test_resume_from_a_damaged_trainer_state(trained, tmp_path, damage, needle):
    out = Path(shutil.copytree(trained, tmp_path / "run"))
    damage(_trainer(out))
    text = fails([*TRAIN, "--epochs", "2", "--out", out, "--resume"], needle)
    assert "this must never run" not in text
    assert "--overwrite" in text or "does not fit" in text


# --- recipes and YAML config files -----------------------------------------------------

YAML_FILES = [
    ("binary-garbage", bytes(range(256)) * 4, "is not UTF-8 text"),
    ("latin-1", "name: caf\xe9\n".encode("latin-1"), "is not UTF-8 text (byte 0xe9"),
    ("utf-16", "name: x\n".encode("utf-16"), "is not UTF-8 text"),
    ("control-characters", b"name: \x01\x02\n", "is not valid YAML"),
    ("tab-indent", b"a: 1\n\tb: 2\n", "is not valid YAML"),
    ("unclosed-list", b"a: [1, 2\n", "is not valid YAML"),
    ("two-documents", b"a: 1\n---\nb: 2\n", "is not valid YAML"),
    ("a-list", b"- 1\n- 2\n", "must contain a YAML mapping"),
    ("a-scalar", b"just words\n", "must contain a YAML mapping"),
    ("billion-laughs", bomb().encode(), "aliases expand too far"),
    ("recursive-alias", b"a: &x [1, *x]\n", "refers to its own anchor"),
]


@pytest.mark.parametrize(("content", "needle"),
                         [pytest.param(c, n, id=i) for i, c, n in YAML_FILES])
@pytest.mark.parametrize("command", [
    pytest.param(lambda f, o: ["sweep", f, "--out", o, "--no-progress"], id="sweep"),
    pytest.param(lambda f, o: ["train", "--config", f, "--out", o], id="train"),
    pytest.param(lambda f, o: ["compress", "ck", "--config", f, "--out", o], id="compress"),
])
def test_a_bad_yaml_file_is_refused_before_any_work(tmp_path, command, content, needle):
    f = tmp_path / "bad.yaml"
    f.write_bytes(content)
    t0 = time.perf_counter()
    fails(command(f, tmp_path / "out"), needle)
    assert time.perf_counter() - t0 < 20
    assert not (tmp_path / "out").exists()  # no recipe copy, no run folder


@pytest.mark.parametrize("where", ["missing", "a-folder"])
def test_a_recipe_that_is_not_a_file(tmp_path, where):
    if where == "a-folder":
        fails(["train", "--config", tmp_path], "is a folder")
    else:
        fails(["train", "--config", tmp_path / "nope.yaml"], "does not exist")


def test_billion_laughs_is_measured_not_expanded(tmp_path):
    from spikelite.records import read_yaml

    f = tmp_path / "bomb.yaml"
    f.write_text(bomb(levels=9))  # 9**10 ≈ 3.5e9 values if expanded
    assert f.stat().st_size < 1024
    t0 = time.perf_counter()
    with pytest.raises(SpikeliteError, match="aliases expand too far"):
        read_yaml(f)
    assert time.perf_counter() - t0 < 2


def test_a_few_aliases_are_fine(tmp_path):
    from spikelite.records import read_yaml

    f = tmp_path / "ok.yaml"
    f.write_text("base: &b {epochs: 2, lr: 0.1}\nrun1: *b\nrun2: {<<: *b, lr: 0.2}\n")
    assert read_yaml(f) == {"base": {"epochs": 2, "lr": 0.1}, "run1": {"epochs": 2, "lr": 0.1},
                            "run2": {"epochs": 2, "lr": 0.2}}


@pytest.mark.parametrize(("args", "needle"), [
    pytest.param(["sweep", "demo", "--set", "x=[1"], "--set 'x=[1': the value is not valid "
                 "YAML", id="set-unclosed-list"),
    pytest.param(["sweep", "demo", "--set", "x={a"], "is not valid YAML", id="set-unclosed-map"),
    pytest.param(["sweep", "demo", "--set", "=3"], "has no key", id="set-no-key"),
    pytest.param(["sweep", "demo", "--set", "novalue"], "must look like key=value",
                 id="set-no-equals"),
    pytest.param(["sweep", "demo", "--set", "x={" + ", ".join(
        [f"a0: &a0 [{', '.join(['1'] * 9)}]"]
        + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 7)]) + "}"],
        "aliases expand too far", id="set-alias-bomb"),
    pytest.param(["train", "--model-arg", "hidden=[8"], "--model-arg 'hidden=[8'",
                 id="model-arg-unclosed"),
    pytest.param(["compress", "ck", "--quant", "rescaw", "--quant-opt", "gamma=[1"],
                 "--quant-opt 'gamma=[1'", id="quant-opt-unclosed"),
    pytest.param(["profile", "ck", "--option", "skip=[1"], "--option 'skip=[1'",
                 id="profile-option-unclosed"),
])
def test_bad_key_value_options(args, needle):
    fails(args, needle)


@pytest.mark.parametrize(("args", "needle"), [
    pytest.param([*TRAIN, "--precision", "fp8"], "unknown precision 'fp8'", id="precision"),
    pytest.param([*TRAIN, "--precision", "fp16", "--device", "cpu"],
                 "on the CPU use --precision bf16", id="fp16-on-cpu"),
    pytest.param([*TRAIN, "--loader-workers", "-1"], "num_workers must be >= 0",
                 id="loader-workers"),
    pytest.param(["profile", "--model", "nosuchmod_xyz:build", "--dataset", "digits"],
                 "no module named 'nosuchmod_xyz'", id="factory-module"),
    pytest.param(["profile", "--model", "os:nosuchfn", "--dataset", "digits"],
                 "module 'os' has no attribute 'nosuchfn'", id="factory-attribute"),
    pytest.param(["profile", "--model", "notafactory", "--dataset", "digits"],
                 "must look like 'module:function'", id="factory-form"),
    pytest.param(["sweep", "demo", "--store", "mysql://x/y"], "unsupported database 'mysql'",
                 id="store-scheme"),
    pytest.param(["sweep", "demo", "--devices", "cuda:99"], "'cuda:99'", id="sweep-devices"),
])
def test_options_added_for_scale_and_interop(args, needle, tmp_path):
    """The options of the interop and paper-scale work refuse bad values in one line."""
    out = ["--out", str(tmp_path / "out")] if args[0] in ("train", "sweep") else []
    fails([*args, *out], needle)
    assert not (tmp_path / "out").exists()


# --- devices, sizes, time steps --------------------------------------------------------

@pytest.mark.parametrize("device", ["quantum", "gpu", "cuda:99", "meta"])
@pytest.mark.parametrize("command", [
    pytest.param(lambda c, t, d: [*TRAIN, "--out", t / "o", "--device", d], id="train"),
    pytest.param(lambda c, t, d: ["eval", c, "--device", d], id="eval"),
    pytest.param(lambda c, t, d: ["profile", c, "--device", d], id="profile"),
    pytest.param(lambda c, t, d: ["compress", c, "--quant", "rescaw:4", "--out", t / "c",
                                  "--device", d, "--no-progress"], id="compress"),
])
def test_an_unknown_device_is_named(ckpt, tmp_path, command, device):
    out = fails(command(ckpt, tmp_path, device), f"'{device}'")
    assert "cpu" in out  # the fix names a valid device
    assert not (tmp_path / "c" / "final").exists()


@pytest.mark.parametrize(("args", "needle"), [
    pytest.param(["eval", "{ck}", "--limit", "-5"], "limit must be >= 1", id="eval-limit-neg"),
    pytest.param(["eval", "{ck}", "--limit", "0"], "limit must be >= 1", id="eval-limit-0"),
    pytest.param(["profile", "{ck}", "--batch-size", "0"], "--batch-size must be >= 1",
                 id="profile-batch-0"),
    pytest.param(["profile", "{ck}", "--batch-size", "-4"], "--batch-size must be >= 1",
                 id="profile-batch-neg"),
    pytest.param(["profile", "{ck}", "--limit", "0"], "--limit must be >= 1", id="profile-limit-0"),
    pytest.param(["profile", "{ck}", "--limit", "-1"], "--limit must be >= 1",
                 id="profile-limit-neg"),
    pytest.param(["train", "--time-steps", "0"], "time_steps", id="train-T-0"),
    pytest.param(["train", "--limit", "0"], "data.limit", id="train-limit-0"),
    pytest.param(["train", "--batch-size", "0"], "train.batch_size", id="train-batch-0"),
    pytest.param(["eval", "{ck}", "--dataset", "nosuch"], "unknown dataset 'nosuch'",
                 id="eval-unknown-dataset"),
])
def test_sizes_and_counts(ckpt, args, needle):
    fails([a.replace("{ck}", str(ckpt)) for a in args], needle)


def test_time_steps_zero_in_a_run_config(tmp_path):
    f = tmp_path / "run.yaml"
    f.write_text("data: {time_steps: 0}\n")
    fails(["train", "--config", f], "data.time_steps")


def test_more_classes_in_the_data_than_the_model_has(tmp_path):
    fails([*TRAIN, "--model-arg", "num_classes=5", "--out", tmp_path / "o"],
          "out of range for the model's 5 outputs")


# --- the Python API: devices, sizes, dtypes, labels ------------------------------------

@pytest.mark.parametrize(("device", "needle"), [
    ("quantum", "unknown device 'quantum'"), ("tpu", "unknown device 'tpu'"),
    ("meta", "'meta' is not supported"), ("cuda:99", "cuda:99"), (7.5, "unknown device"),
])
def test_resolve_device(device, needle):
    from spikelite.train.engine import resolve_device

    with pytest.raises(SpikeliteError, match=needle.replace("(", r"\(")):
        resolve_device(device)


def _net(classes: int = 3) -> nn.Module:
    from spikelite.core import LIF, Flatten, TimeDistributed

    torch.manual_seed(0)
    return nn.Sequential(Flatten(), TimeDistributed(nn.Linear(4, 8)), LIF(beta=0.9),
                         TimeDistributed(nn.Linear(8, classes)))


def _data(x_dtype=torch.float32, y=None, n: int = 8) -> TensorDataset:
    x = (torch.rand(n, 3, 4) * 3).to(x_dtype) if not x_dtype.is_complex else torch.zeros(
        n, 3, 4, dtype=x_dtype)
    return TensorDataset(x, torch.arange(n) % 3 if y is None else y)


@pytest.mark.parametrize("x_dtype", [torch.float64, torch.int64, torch.uint8, torch.bool,
                                     torch.float16])
def test_inputs_of_any_real_dtype_are_converted(x_dtype):
    from spikelite.train import TrainConfig, evaluate, fit

    model = _net()
    data = _data(torch.float64 if x_dtype is torch.bool else x_dtype)
    if x_dtype is torch.bool:
        data = TensorDataset(data.tensors[0] > 1.5, data.tensors[1])
    res = fit(model, data, data, TrainConfig(epochs=1, batch_size=4), progress=False,
              device="cpu")
    assert len(res.history) == 1 and all(torch.isfinite(p).all() for p in model.parameters())
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert 0.0 <= evaluate(model, data, device="cpu")["accuracy"] <= 1.0


def test_a_float64_model_gets_float64_inputs():
    from spikelite.train import evaluate

    model = _net().double()
    assert 0.0 <= evaluate(model, _data(torch.float32), device="cpu")["accuracy"] <= 1.0


@pytest.mark.parametrize(("data", "needle"), [
    pytest.param(lambda: _data(y=torch.tensor([0, 1, 2, 3, 0, 1, 2, 0])),
                 "label 3 is out of range for the model's 3 outputs", id="label-too-big"),
    pytest.param(lambda: _data(y=torch.tensor([0, 1, -1, 0, 0, 1, 2, 0])),
                 "label -1 is out of range", id="label-negative"),
    pytest.param(lambda: _data(y=torch.zeros(8)), "labels are torch.float32", id="float-labels"),
    pytest.param(lambda: _data(y=torch.zeros(8, dtype=torch.bool)), "labels are torch.bool",
                 id="bool-labels"),
    pytest.param(lambda: _data(y=torch.zeros(8, 3, dtype=torch.long)),
                 "one class index per sample", id="one-hot-labels"),
    pytest.param(lambda: _data(torch.complex64), "inputs are torch.complex64",
                 id="complex-inputs"),
])
@pytest.mark.parametrize("run", ["fit", "evaluate"])
def test_bad_labels_and_inputs(data, needle, run):
    from spikelite.train import TrainConfig, evaluate, fit

    with pytest.raises(SpikeliteError, match=needle):
        if run == "fit":
            fit(_net(), data(), None, TrainConfig(epochs=1, batch_size=4), progress=False,
                device="cpu")
        else:
            evaluate(_net(), data(), device="cpu")


@pytest.mark.parametrize(("kwargs", "needle"), [
    ({"batch_size": 0}, "batch size must be >= 1"), ({"limit": 0}, "limit must be >= 1"),
    ({"limit": -2}, "limit must be >= 1"), ({"device": "quantum"}, "unknown device"),
])
def test_profile_arguments(kwargs, needle):
    from spikelite.hardware import profile

    with pytest.raises(SpikeliteError, match=needle):
        profile(_net(), torch.rand(3, 2, 4), **kwargs)


def test_evaluate_batch_size_zero():
    from spikelite.train import evaluate

    with pytest.raises(SpikeliteError, match="batch_size must be >= 1"):
        evaluate(_net(), _data(), batch_size=0, device="cpu")


# --- outputs: files in the way, read-only folders, a full disk -------------------------

@pytest.mark.parametrize("command", [
    pytest.param(lambda c, o: [*TRAIN, "--out", o], id="train"),
    pytest.param(lambda c, o: ["compress", c, "--quant", "rescaw:4", "--epochs", "0",
                               "--out", o, "--no-progress"], id="compress"),
    pytest.param(lambda c, o: ["export", c, "--to", "package", "--out", o], id="export-package"),
])
def test_output_folder_is_a_file(ckpt, tmp_path, command):
    f = tmp_path / "afile"
    f.write_text("keep me")
    fails(command(ckpt, f), "is a file")
    assert f.read_text() == "keep me"


def test_nir_output_is_a_folder(ckpt, tmp_path):
    fails(["export", ckpt, "--out", tmp_path], "is a folder; --to nir writes a file")


@pytest.mark.parametrize("command", [
    pytest.param(lambda c, o: [*TRAIN, "--out", o / "run"], id="train"),
    pytest.param(lambda c, o: ["compress", c, "--quant", "rescaw:4", "--epochs", "0",
                               "--out", o / "c", "--no-progress"], id="compress"),
    pytest.param(lambda c, o: ["export", c, "--out", o / "m.nir"], id="export-nir"),
    pytest.param(lambda c, o: ["export", c, "--to", "package", "--out", o / "pkg"],
                 id="export-package"),
])
def test_read_only_output_folder(ckpt, readonly, command):
    fails(command(ckpt, readonly), f"permission denied for '{readonly}")
    assert list(readonly.iterdir()) == []


def test_output_below_a_file(ckpt, tmp_path):
    (tmp_path / "afile").write_text("x")
    fails(["export", ckpt, "--out", tmp_path / "afile" / "m.nir"], "afile")


def _no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("to", ["nir", "package"])
def test_export_on_a_full_disk_leaves_nothing(ckpt, tmp_path, monkeypatch, to):
    monkeypatch.setattr(os, "fsync", _no_space)
    out = tmp_path / "out" / ("m.nir" if to == "nir" else "pkg")
    fails(["export", ckpt, "--to", to, "--out", out, "--no-check"],
          "no space left on device while writing")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == []


def test_export_on_a_full_disk_keeps_the_old_package(ckpt, tmp_path, monkeypatch):
    out = tmp_path / "pkg"
    assert runner.invoke(app, ["export", str(ckpt), "--to", "package", "--out", str(out),
                               "--no-check"]).exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    monkeypatch.setattr(os, "fsync", _no_space)
    fails(["export", ckpt, "--to", "package", "--out", out, "--pack", "--no-check"],
          "no space left on device")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_training_on_a_full_disk(tmp_path, monkeypatch):
    import spikelite.train.checkpoint as checkpoint

    monkeypatch.setattr(checkpoint, "save_file", _no_space)
    out = tmp_path / "run"
    fails([*TRAIN, "--out", out], f"no space left on device while writing '{out / 'best'}'")
    assert sorted(p.name for p in out.iterdir()) == []  # no half-written checkpoint


@pytest.mark.parametrize(("code", "needle"), [
    (errno.ENOSPC, "no space left on device while writing '/x/y'"),
    (errno.EROFS, "read-only file system at '/x/y'"),
    (errno.EACCES, "permission denied for '/x/y'"),
    (errno.EIO, "cannot use '/x/y'"),
])
def test_os_failure_names_the_path_and_the_fix(code, needle):
    msg = str(os_failure(OSError(code, os.strerror(code), "/x/y")))
    assert needle in msg and ";" in msg and "\n" not in msg


def test_check_output_dir_creates_a_missing_folder(tmp_path):
    assert check_output_dir(tmp_path / "a" / "b") == tmp_path / "a" / "b"
    assert (tmp_path / "a" / "b").is_dir() and list((tmp_path / "a" / "b").iterdir()) == []


# --- sweep: storage URLs, damaged results stores ---------------------------------------

@pytest.mark.parametrize(("url", "needle"), [
    ("foo://bar", "is not a database URL"), ("nonsense", "is not a database URL"),
    ("redis://localhost", "is not a database URL"),
    ("sqlite:///study.db", "has none"),  # a valid URL, but demo has no search
])
def test_sweep_storage_url_is_checked_before_any_work(tmp_path, url, needle):
    fails(["sweep", "demo", "--storage", url, "--out", tmp_path / "sw", "--no-progress"],
          needle)
    assert not (tmp_path / "sw").exists()


def _store(tmp_path: Path, kind: str) -> Path:
    from spikelite.sweep.store import STORE, Store

    run = tmp_path / "sw"
    run.mkdir()
    db = run / STORE
    if kind == "random-bytes":
        db.write_bytes(os.urandom(4096))
    elif kind == "text":
        db.write_text("results\n")
    else:
        Store(db)
        con = sqlite3.connect(db)
        con.execute("PRAGMA journal_mode=DELETE")
        con.close()
        raw = bytearray(db.read_bytes())
        if kind == "truncated":
            db.write_bytes(raw[: len(raw) // 2 + 100])
        else:  # "damaged": the schema page overwritten
            raw[100:1100] = os.urandom(1000)
            db.write_bytes(bytes(raw))
    return run


@pytest.mark.parametrize("kind", ["random-bytes", "text", "truncated", "damaged"])
@pytest.mark.parametrize("command", [
    pytest.param(lambda r: ["report", r], id="report"),
    pytest.param(lambda r: ["pareto", r], id="pareto"),
    pytest.param(lambda r: ["export", r, "--point", "p", "--out", r / "p.nir"], id="export"),
])
def test_a_damaged_results_store(tmp_path, kind, command):
    run = _store(tmp_path, kind)
    fails(command(run), "is not a readable results store")


@pytest.mark.parametrize("command", ["report", "pareto"])
def test_an_empty_results_store(tmp_path, command):
    from spikelite.sweep.store import STORE, Store

    (tmp_path / "sw").mkdir()
    Store(tmp_path / "sw" / STORE)
    fails([command, tmp_path / "sw"], "has no finished points yet")


# --- overwrites: train --out never replaces another run's checkpoint -------------------

def test_train_refuses_another_runs_checkpoint(trained, tmp_path):
    out = Path(shutil.copytree(trained, tmp_path / "run"))
    before = (out / "best" / "model.safetensors").read_bytes()
    fails([*TRAIN, "--model-arg", "hidden=[6]", "--out", out], "holds a checkpoint of another run")
    assert (out / "best" / "model.safetensors").read_bytes() == before


def test_train_overwrite_replaces_it(trained, tmp_path):
    out = Path(shutil.copytree(trained, tmp_path / "run"))
    res = runner.invoke(app, [*TRAIN, "--model-arg", "hidden=[6]", "--out", str(out),
                              "--overwrite"])
    assert res.exit_code == 0, res.output
    assert json.loads((out / "best" / "config.json").read_text())["model"]["kwargs"][
        "hidden"] == [6]


def test_train_rerun_of_the_same_configuration_is_allowed(tmp_path):
    out = tmp_path / "run"
    for _ in range(2):
        res = runner.invoke(app, [*TRAIN, "--out", str(out)])
        assert res.exit_code == 0, res.output


def test_train_resume_continues_its_own_run(trained, tmp_path):
    out = Path(shutil.copytree(trained, tmp_path / "run"))
    res = runner.invoke(app, [*TRAIN, "--epochs", "2", "--out", str(out), "--resume"])
    assert res.exit_code == 0, res.output
    assert json.loads((out / "last" / "config.json").read_text())["metrics"]["epoch"] == 2


@pytest.mark.parametrize("flags", [[], ["--overwrite"], ["--resume", "--epochs", "2"]])
def test_train_never_deletes_files_it_did_not_write(trained, tmp_path, flags):
    out = Path(shutil.copytree(trained, tmp_path / "run"))
    (out / "best" / "my-notes.txt").write_text("precious")
    fails([*TRAIN, "--out", out, *flags], "my-notes.txt")
    assert (out / "best" / "my-notes.txt").read_text() == "precious"


def test_train_refuses_a_file_where_best_goes(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "best").write_text("not a folder")
    fails([*TRAIN, "--out", out, "--overwrite"], "is not a checkpoint folder")
    assert (out / "best").read_text() == "not a folder"


def test_compress_never_deletes_files_it_did_not_write(ckpt, tmp_path):
    final = tmp_path / "c" / "final"
    final.mkdir(parents=True)
    (final / "mine.txt").write_text("precious")
    fails(["compress", ckpt, "--quant", "rescaw:4", "--epochs", "0", "--out", tmp_path / "c",
           "--no-progress"], "mine.txt")
    assert (final / "mine.txt").read_text() == "precious"


def test_save_checkpoint_api_keeps_foreign_files(tmp_path):
    from spikelite.train import save_checkpoint

    save_checkpoint(tmp_path / "ck", _net(), {"model": {"name": "x"}})
    (tmp_path / "ck" / "data.csv").write_text("1,2")
    with pytest.raises(SpikeliteError, match="did not write"):
        save_checkpoint(tmp_path / "ck", _net(), {"model": {"name": "x"}})
    assert (tmp_path / "ck" / "data.csv").read_text() == "1,2"


def test_fit_api_refuses_another_runs_checkpoint(tmp_path):
    from spikelite.train import TrainConfig, fit

    cfg = TrainConfig(epochs=1, batch_size=4)
    fit(_net(), _data(), None, cfg, out_dir=tmp_path, progress=False, device="cpu")
    with pytest.raises(SpikeliteError, match="overwrite=True"):
        fit(_net(), _data(), None, TrainConfig(epochs=1, batch_size=2), out_dir=tmp_path,
            progress=False, device="cpu")
    fit(_net(), _data(), None, TrainConfig(epochs=1, batch_size=2), out_dir=tmp_path,
        progress=False, device="cpu", overwrite=True)


# --- the error path itself: one line, --debug, SPIKELITE_DEBUG -------------------------

def test_unexpected_errors_are_one_line_without_unsafe_advice(ckpt, monkeypatch):
    import spikelite.train.run as run

    def boom(*args, **kwargs):
        raise RuntimeError("Weights only load failed. Re-running `torch.load` with "
                           "`weights_only` set to `False` will likely succeed\nline two")
    monkeypatch.setattr(run, "evaluate_checkpoint", boom)
    out = fails(["eval", ckpt], "unexpected RuntimeError")
    assert "--debug" in out and "line two" not in out


def test_unexpected_os_errors_name_the_path(ckpt, monkeypatch):
    import spikelite.train.run as run

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", "/data/x")
    monkeypatch.setattr(run, "evaluate_checkpoint", full)
    fails(["eval", ckpt], "no space left on device while writing '/data/x'")


@pytest.mark.parametrize("how", ["flag", "env"])
def test_debug_lets_the_exception_through(ckpt, how):
    _weights(ckpt).write_bytes(b"")
    args = ["--debug", "eval", str(ckpt)] if how == "flag" else ["eval", str(ckpt)]
    env = {"SPIKELITE_DEBUG": "1"} if how == "env" else None
    res = runner.invoke(app, args, env=env)
    assert res.exit_code == 1 and isinstance(res.exception, SpikeliteError)
    assert "is empty" in str(res.exception)
    again = runner.invoke(app, ["eval", str(ckpt)])  # the flag does not stick
    assert again.exit_code == 2 and "Traceback" not in again.output


def test_the_real_process_prints_a_traceback_only_when_asked(ckpt):
    _weights(ckpt).write_bytes(b"\x00" * 7)
    cmd = [sys.executable, "-c", "from spikelite.cli import main; main()", "eval", str(ckpt)]
    env = {k: v for k, v in os.environ.items() if k != "SPIKELITE_DEBUG"}
    plain = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert plain.returncode == 2 and "Traceback" not in plain.stderr + plain.stdout
    assert plain.stderr.strip().splitlines()[-1].startswith("error:")
    debug = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                           env={**env, "SPIKELITE_DEBUG": "1"})
    assert debug.returncode == 1 and "Traceback" in debug.stderr
    assert "SpikeliteError" in debug.stderr


# --- options that were already checked: keep them one line -----------------------------

@pytest.mark.parametrize(("args", "needle"), [
    pytest.param(["profile", "{tmp}/g.nir"], "cannot read the NIR file", id="nir-garbage"),
    pytest.param(["profile", "{tmp}/z.nir"], "cannot read the NIR file", id="nir-empty"),
    pytest.param(["profile", "{tmp}/d.nir"], "no NIR file at", id="nir-a-folder"),
    pytest.param(["profile", "{ck}", "--format", "bogus"], "unknown weight format 'bogus'",
                 id="profile-format"),
    pytest.param(["profile", "{ck}", "--preset", "bogus"], "unknown cost preset 'bogus'",
                 id="profile-preset"),
    pytest.param(["profile", "{ck}", "--option", "bogus=1"], "unknown cost option(s) bogus",
                 id="profile-option"),
    pytest.param(["export", "{ck}", "--out", "{tmp}/x.nir", "--lif-gain", "zzz"],
                 "lif_gain must be 'r' or 'weights'", id="export-lif-gain"),
    pytest.param(["export", "{ck}", "--out", "{tmp}/x.nir", "--dt", "0"], "dt must be > 0",
                 id="export-dt-0"),
    pytest.param(["export", "{ck}", "--out", "{tmp}/x.nir", "--to", "onnx"],
                 "--to must be nir or package", id="export-to"),
    pytest.param(["compress", "{ck}", "--quant", "rescaw:0", "--out", "{tmp}/c"], "quant.bits",
                 id="compress-bits-0"),
    pytest.param(["compress", "{ck}", "--prune", "1.5", "--out", "{tmp}/c"], "prune.sparsity",
                 id="compress-sparsity"),
])
def test_checked_options_stay_one_line(ckpt, tmp_path, args, needle):
    (tmp_path / "g.nir").write_bytes(os.urandom(500))
    (tmp_path / "z.nir").write_bytes(b"")
    (tmp_path / "d.nir").mkdir()
    fails([a.replace("{ck}", str(ckpt)).replace("{tmp}", str(tmp_path)) for a in args], needle)
    assert not (tmp_path / "x.nir").exists() and not (tmp_path / "c" / "final").exists()


@pytest.mark.parametrize("command", ["report", "pareto"])
def test_a_store_row_with_invalid_json_is_one_line(tmp_path, command):
    import sqlite3

    from spikelite.sweep.store import STORE, Store

    run = tmp_path / "sw"
    run.mkdir()
    Store(run / STORE)  # creates the schema
    con = sqlite3.connect(run / STORE)
    con.execute("INSERT INTO runs (key, name, status, config, result, attempts, started) "
                "VALUES ('k1', 'p', 'done', '{}', '{not json', 1, 0.0)")
    con.commit()
    con.close()
    fails([command, run], "holds invalid JSON")
