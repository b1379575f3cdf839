"""A foreign network (snnTorch, SpikingJelly, Norse) → an equivalent spikelite model.

:func:`from_foreign` runs the network once on a sample input the way its library runs it
(per time step or on the whole sequence), records which modules it calls in which order,
rebuilds that chain from spikelite layers (``TimeDistributed`` torch layers, ``Flatten``,
:class:`~spikelite.core.LIF` neurons) and runs the result on the same input: the outputs
must be bit-identical, or the conversion fails naming the difference.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn

from spikelite.core import Flatten, TimeDistributed
from spikelite.errors import MissingExtraError, SpikeliteError
from spikelite.interop.layers import check_flatten, is_layer, plain_copy, unsupported
from spikelite.interop.library import Library, first_output
from spikelite.interop.model import ConvertedSequential

Layout = Literal["TB", "BT"]
Protocol = Literal["auto", "step", "sequence"]

#: the peer libraries by name (imported lazily)
LIBRARIES = ("snntorch", "spikingjelly", "norse")


def library(name: str) -> Library:
    """The :class:`Library` of a peer by name (its package must be installed)."""
    key = str(name).lower()
    if key not in LIBRARIES:
        raise SpikeliteError(f"unknown library {name!r}; valid: {', '.join(LIBRARIES)}")
    try:
        __import__(key)
    except ImportError as exc:
        raise MissingExtraError(key, "interop", f"converting a {key} network") from exc
    if key == "snntorch":
        from spikelite.interop.peer_snntorch import SNNTORCH as lib
    elif key == "spikingjelly":
        from spikelite.interop.peer_spikingjelly import SPIKINGJELLY as lib
    else:
        from spikelite.interop.peer_norse import NORSE as lib
    return lib


def detect_library(model: nn.Module) -> Library:
    """The one peer library whose neurons ``model`` holds."""
    if not isinstance(model, nn.Module):
        raise SpikeliteError(f"expected a torch nn.Module, got {type(model).__name__}")
    found = sorted({type(m).__module__.split(".")[0] for m in model.modules()}
                   & set(LIBRARIES))
    if not found:
        raise SpikeliteError(
            f"{type(model).__name__} holds no module of snnTorch, SpikingJelly or Norse; for "
            "a non-spiking (ANN) network use spikelite.convert (ANN→SNN conversion)")
    if len(found) > 1:
        raise SpikeliteError(f"{type(model).__name__} mixes modules of {' and '.join(found)}; "
                             "spikelite converts networks of one library")
    return library(found[0])


@dataclass
class _Unit:
    name: str
    module: nn.Module
    kind: Literal["neuron", "layer", "other"]
    calls: int = 0
    out_shapes: list[tuple[int, ...]] = field(default_factory=list)
    outputs: list[torch.Tensor] = field(default_factory=list)

    def spikes(self, T: int, B: int) -> torch.Tensor | None:
        """A neuron's recorded output as ``[T, B, ...]`` (one call on the sequence, or one
        call per step stacked)."""
        if not self.outputs:
            return None
        if len(self.outputs) == 1 and tuple(self.outputs[0].shape[:2]) == (T, B):
            return self.outputs[0]
        if len(self.outputs) == T:
            return torch.stack(self.outputs)
        return None


def _units(model: nn.Module, lib: Library) -> list[_Unit]:
    """The modules a converted chain is made of: neurons, supported layers and any other
    leaf (refused if the network calls it); containers are opened."""
    out: list[_Unit] = []

    def walk(m: nn.Module, prefix: str) -> None:
        for name, child in m.named_children():
            full = f"{prefix}{name}"
            if lib.owns(child) and lib.is_neuron(child):
                out.append(_Unit(full, child, "neuron"))
            elif is_layer(child):
                out.append(_Unit(full, child, "layer"))
            elif any(True for _ in child.children()):
                walk(child, f"{full}.")
            else:
                out.append(_Unit(full, child, "other"))

    walk(model, "")
    return out


def sample_input(input_shape: Sequence[int], time_steps: int, batch_size: int = 4,
                 seed: int = 0) -> torch.Tensor:
    """A reproducible time-major binary input ``[T, B, *input_shape]`` (half the values 1)."""
    shape = [int(s) for s in input_shape]
    if time_steps < 1 or not shape or min(shape) < 1:
        raise SpikeliteError(f"need time_steps >= 1 and a positive input_shape, got "
                             f"time_steps={time_steps}, input_shape={list(input_shape)}")
    if batch_size == time_steps:  # keeps [T, B] and [B, T] apart in the checks
        batch_size += 1
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(time_steps, batch_size, *shape, generator=g) < 0.5).float()


def _run_foreign(model: nn.Module, x_tb: torch.Tensor, lib: Library, steps: bool,
                 layout: Layout) -> torch.Tensor:
    """The foreign network's output ``[T, B, ...]`` on ``x_tb``, called its own way."""
    lib.reset(model)
    if steps:
        state: Any = None
        outs = []
        for x_t in x_tb.unbind(0):
            out, state = lib.call_step(model, x_t, state)
            outs.append(first_output(out))
        y = torch.stack(outs)
    else:
        x = x_tb if layout == "TB" else x_tb.transpose(0, 1)
        y = first_output(model(x))
        if isinstance(y, torch.Tensor) and layout == "BT" and y.dim() >= 2:
            y = y.transpose(0, 1)
    lib.reset(model)
    if not isinstance(y, torch.Tensor):
        raise SpikeliteError(f"{type(model).__name__} returned a {type(y).__name__}, not a "
                             "tensor of outputs; spikelite converts networks that return their "
                             "output (or a tuple starting with it)")
    return y


def _per_sample(u: _Unit, T: int, B: int) -> tuple[int, ...] | None:
    """A unit's first recorded output shape without its time/batch axes: called once per
    step it saw ``[B, ...]``; called once it saw ``[T, B, ...]`` or ``[T·B, ...]``."""
    if not u.out_shapes:
        return None
    shape = u.out_shapes[0]
    if u.calls == 1 and T > 1:
        if len(shape) >= 2 and shape[:2] == (T, B):
            return shape[2:]
        return shape[1:] if shape and shape[0] == T * B else None
    return shape[1:] if shape and shape[0] == B else None


def _trace(model: nn.Module, units: list[_Unit], run: Any) -> tuple[torch.Tensor, list[_Unit]]:
    """Run ``run()`` recording every unit's calls; the units in order of first call."""
    order: list[_Unit] = []
    handles = []

    def hook_for(u: _Unit) -> Any:
        def hook(_m: nn.Module, _inp: Any, out: Any) -> None:
            if u.calls == 0:
                order.append(u)
            u.calls += 1
            o = first_output(out)
            if isinstance(o, torch.Tensor):
                u.out_shapes.append(tuple(o.shape))
                if u.kind == "neuron":
                    u.outputs.append(o.detach().clone())
        return hook

    for u in units:
        u.calls, u.out_shapes, u.outputs = 0, [], []
        handles.append(u.module.register_forward_hook(hook_for(u)))
    try:
        y = run()
    finally:
        for h in handles:
            h.remove()
    return y, order


def _build(chain: list[_Unit], lib: Library, T: int, B: int,
           in_shape: tuple[int, ...]) -> OrderedDict[str, nn.Module]:
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    prev_shape: tuple[int, ...] | None = in_shape
    for u in chain:
        key = u.name.replace(".", "_")
        if u.kind == "other":
            raise unsupported(u.module, u.name)
        if u.kind == "neuron":
            try:
                layers[key] = lib.to_neuron(u.module)
            except SpikeliteError as exc:
                raise SpikeliteError(f"layer '{u.name}': {exc}") from None
        elif isinstance(u.module, nn.Flatten):
            check_flatten(u.module, u.name)
            layers[key] = Flatten()
        else:
            if (isinstance(u.module, nn.Linear) and prev_shape is not None
                    and len(prev_shape) > 1
                    and math.prod(prev_shape) == u.module.in_features):
                # the forward flattens with a view (x.view(B, -1), torch.flatten): no module
                layers[f"{key}_flatten"] = Flatten()
            layers[key] = TimeDistributed(plain_copy(u.module, u.name))
        prev_shape = _per_sample(u, T, B)
    return layers


def _describe_mismatch(ours: torch.Tensor, ref: torch.Tensor) -> str:
    if ours.shape != ref.shape:
        return f"output shape {tuple(ours.shape)} instead of {tuple(ref.shape)}"
    bad = (ours != ref) & ~(torch.isnan(ours) & torch.isnan(ref))
    n = int(bad.sum())
    idx = tuple(int(i) for i in bad.nonzero()[0])
    diff = float((ours.double() - ref.double()).abs().max())
    return (f"{n} of {ref.numel()} output values differ (first at index {list(idx)}: "
            f"{float(ours[idx])!r} instead of {float(ref[idx])!r}; max |difference| {diff:.3g})")


def from_foreign(
    model: nn.Module,
    sample_input: torch.Tensor | None = None,
    *,
    input_shape: Sequence[int] | None = None,
    time_steps: int | None = None,
    input_layout: Layout = "TB",
    protocol: Protocol = "auto",
    library_name: str | None = None,
) -> ConvertedSequential:
    """Convert ``model`` (snnTorch, SpikingJelly or Norse) into a spikelite model taking
    ``[T, B, *input_shape]`` and returning what the foreign network returns per time step
    (the spikes of its last neuron layer, or the output of its last synaptic layer).

    ``sample_input``: an input of the network (``[T, B, ...]``, or ``[B, T, ...]`` with
    ``input_layout="BT"``); or give ``input_shape`` (one sample, one step) and
    ``time_steps`` for a random binary one. ``protocol``: ``step`` calls the network once
    per time step on ``[B, ...]`` (snnTorch ``init_hidden`` Sequentials, SpikingJelly
    single-step nets, Norse ``SequentialState`` with cells), ``sequence`` once on the whole
    input; ``auto`` decides from the library's conventions. The converted model's output
    is checked to be bit-identical to the foreign network's on the sample input (both in
    evaluation mode); a difference raises :class:`SpikeliteError` naming it.
    """
    lib = library(library_name) if library_name is not None else detect_library(model)
    if input_layout not in ("TB", "BT"):
        raise SpikeliteError(f"input_layout must be 'TB' ([T, B, ...]) or 'BT' ([B, T, ...]), "
                             f"got {input_layout!r}")
    if sample_input is None:
        if input_shape is None or time_steps is None:
            raise SpikeliteError("give sample_input, or input_shape (one sample at one time "
                                 "step, e.g. (1, 28, 28)) and time_steps")
        x = sample_input_tensor = sample_input_for(model, input_shape, time_steps)
    else:
        if not isinstance(sample_input, torch.Tensor) or sample_input.dim() < 3:
            raise SpikeliteError("sample_input must be a tensor [T, B, ...] (or [B, T, ...] "
                                 "with input_layout='BT') with at least 3 dimensions")
        sample_input_tensor = sample_input.detach()
        x = sample_input_tensor if input_layout == "TB" else sample_input_tensor.transpose(0, 1)
    T, B = int(x.shape[0]), int(x.shape[1])
    if protocol == "auto":
        steps = lib.steps(model)
    elif protocol in ("step", "sequence"):
        steps = protocol == "step"
    else:
        raise SpikeliteError(f"protocol must be 'auto', 'step' or 'sequence', got {protocol!r}")
    how = "once per time step" if steps else "on the whole sequence"
    # a generated input is checked at three strengths, so deep layers spike too
    samples = [x] if sample_input is not None else [x, 4.0 * x, 16.0 * x]
    was_training = {m: m.training for m in model.modules()}
    model.eval()
    units = _units(model, lib)
    net: ConvertedSequential | None = None
    checked: dict[str, int] = {}
    try:
        with torch.no_grad():
            for xs in samples:
                ref, chain = _trace_foreign(model, units, xs, lib, steps, input_layout, how)
                if net is None:
                    net = ConvertedSequential(_build(chain, lib, T, B, tuple(x.shape[2:])),
                                              num_classes=_classes(chain),
                                              input_shape=tuple(x.shape[2:]))
                    net.eval()
                _check(model, net, chain, xs, ref, T, B, checked)
    finally:
        for m, flag in was_training.items():
            m.train(flag)
    assert net is not None
    net.train(was_training[model])
    net.spikelite_config = {"name": f"{lib.name}:{type(model).__name__}"}
    #: what the conversion check compared: spikes per neuron layer over all samples
    net.conversion_check = {"library": lib.name, "protocol": "step" if steps else "sequence",
                            "samples": len(samples), "input": list(x.shape),
                            "spikes": checked}
    return net


def _trace_foreign(model: nn.Module, units: list[_Unit], x: torch.Tensor, lib: Library,
                   steps: bool, layout: Layout, how: str) -> tuple[torch.Tensor, list[_Unit]]:
    try:
        ref, chain = _trace(model, units, lambda: _run_foreign(model, x, lib, steps, layout))
    except SpikeliteError:
        raise
    except Exception as exc:
        detail = " ".join(str(exc).split())[:300] or type(exc).__name__
        raise SpikeliteError(
            f"{type(model).__name__} failed when called {how} on the sample input "
            f"{list(x.shape)} ([T, B, ...]; {type(exc).__name__}: {detail}); give a "
            "sample_input the network accepts, or set input_layout/protocol") from None
    if not chain:
        raise SpikeliteError(f"{type(model).__name__} called none of its modules")
    return ref, chain


def _check(model: nn.Module, net: ConvertedSequential, chain: list[_Unit], x: torch.Tensor,
           ref: torch.Tensor, T: int, B: int, checked: dict[str, int]) -> None:
    """Every neuron layer's spikes and the output of ``net`` equal the foreign ones."""
    ours_by_key: dict[str, torch.Tensor] = {}
    handles = [m.register_forward_hook(
        lambda _m, _i, o, k=k: ours_by_key.__setitem__(k, o.detach()))
        for k, m in net.named_children()]
    try:
        ours = net(x)
    finally:
        for h in handles:
            h.remove()
    hint = ("spikelite converts chains of modules: operations in forward() outside them "
            "(F.relu, a residual sum, torch.cat) or a returned membrane cannot be carried "
            "over (docs/interop.md)")
    for u in chain:
        if u.kind != "neuron":
            continue
        key = u.name.replace(".", "_")
        theirs, mine = u.spikes(T, B), ours_by_key.get(key)
        if theirs is None or mine is None:
            continue
        if mine.shape != theirs.shape or not bool(torch.equal(mine, theirs)):
            raise SpikeliteError(
                f"the converted network does not reproduce {type(model).__name__}: neuron "
                f"layer '{u.name}' ({type(u.module).__name__}): "
                f"{_describe_mismatch(mine, theirs)}; {hint}")
        checked[u.name] = checked.get(u.name, 0) + int(theirs.count_nonzero())
    if ours.shape != ref.shape or not bool(torch.equal(ours, ref)):
        raise SpikeliteError(
            f"the converted network does not reproduce {type(model).__name__} on the sample "
            f"input: {_describe_mismatch(ours, ref)}; {hint}")


def sample_input_for(model: nn.Module, input_shape: Sequence[int],
                     time_steps: int) -> torch.Tensor:
    """:func:`sample_input` in the dtype and on the device of ``model``'s parameters."""
    x = sample_input(input_shape, int(time_steps))
    p = next(iter(model.parameters()), None)
    return x if p is None else x.to(device=p.device, dtype=p.dtype)


def _classes(chain: list[_Unit]) -> int:
    for u in reversed(chain):
        if isinstance(u.module, nn.Linear):
            return int(u.module.out_features)
    return 0
