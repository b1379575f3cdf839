"""ANN → SNN conversion by data-based threshold balancing (Rueckauer et al. 2017).

Mapping (see docs/convert.md): the ReLU ANN is flattened and BatchNorm is folded into the
preceding Conv/Linear; then, walking the layers with the *input scale* ``s`` (the activation
value one unit of the incoming signal stands for; ``s = 1`` for the input):

* Conv/Linear → ``TimeDistributed`` copy with ``W' = s·W``, ``b' = b``; then ``s = 1``.
* ReLU ``l`` → :class:`ConvertedIF` (IF, reset by subtraction) with ``θ = λ_l / s``, where
  ``λ_l`` is the max or percentile of that ReLU's activations on the calibration data; it
  emits 0/1 spikes, so afterwards ``s = λ_l``.
* AvgPool/AdaptiveAvgPool → ``TimeDistributed`` (linear: the scale passes through);
  ``nn.Flatten`` → :class:`spikelite.core.Flatten`; Dropout/Identity are removed.

An IF neuron with reset by subtraction driven by a constant input current ``z`` fires at rate
``r = ⌊T·z/θ + v₀/θ⌋ / T → clip(z/θ, 0, 1)``, so with ``θ = λ_l`` (``s = 1``) the rate
approximates ``a_l / λ_l`` (``a_l = ReLU(z)``), clipped at 1 for the few activations above a
percentile-λ; the next layer receives ``λ_l·r ≈ a_l``, i.e. the ANN's input, in expectation.
The network output (the last layer, usually Linear without ReLU) is an accumulating read-out:
its time mean (× the output scale when the net ends with a ReLU) approximates the ANN output.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Literal

import torch
from torch import nn

from spikelite.convert._layers import POOLS, WEIGHTED, fold_layers
from spikelite.core.converted import ConvertedIF
from spikelite.core.layers import Flatten, TimeDistributed
from spikelite.core.neurons import check_time_major, reset_states
from spikelite.data.encoding import encode
from spikelite.errors import SpikeliteError

if TYPE_CHECKING:
    from spikelite.hardware.report import Report

ThresholdMethod = Literal["max", "percentile"]
Coding = Literal["direct", "rate"]


def encode_input(
    x_static: torch.Tensor,
    time_steps: int,
    coding: Coding = "direct",
    *,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Static batch ``[B, ...]`` → time-major ``[T, B, ...]``.

    ``direct``: the analog input at every step (the first layer encodes). ``rate``: Bernoulli
    spikes with ``P(1) = x`` (needs ``x ∈ [0, 1]``), so the expected input equals ``x``.
    """
    if coding not in ("direct", "rate"):
        raise SpikeliteError(f"unknown input coding '{coding}'; use 'direct' or 'rate'")
    return encode(x_static, time_steps, coding, generator=generator)


def _batches(data: torch.Tensor | Iterable, batch_size: int = 512) -> Iterable[torch.Tensor]:
    if isinstance(data, torch.Tensor):
        if data.dim() < 2 or data.shape[0] == 0:
            raise SpikeliteError(
                f"calibration_data must be a non-empty static batch [N, ...], got shape "
                f"{tuple(data.shape)}"
            )
        yield from data.split(batch_size)
        return
    n = 0
    for item in data:
        x = item[0] if isinstance(item, (tuple, list)) else item
        if not isinstance(x, torch.Tensor):
            raise SpikeliteError(
                f"calibration batches must be tensors [B, ...] or (x, y) tuples, got "
                f"{type(x).__name__}"
            )
        n += 1
        yield x
    if n == 0:
        raise SpikeliteError("calibration_data is empty; give at least one batch [B, ...]")


def _percentile(values: torch.Tensor, q: float) -> float:
    if values.numel() <= 2**24:
        return float(torch.quantile(values.double(), q / 100.0))
    k = min(values.numel(), max(1, math.ceil(q / 100.0 * values.numel())))
    return float(values.kthvalue(k).values)


def _check_method(method: str, percentile: float, granularity: str = "layer") -> None:
    if method not in ("max", "percentile"):
        raise SpikeliteError(f"unknown threshold method '{method}'; use 'max' or 'percentile'")
    if method == "percentile" and not 0.0 < float(percentile) <= 100.0:
        raise SpikeliteError(f"percentile must be in (0, 100], got {percentile!r}")
    if granularity not in ("layer", "channel"):
        raise SpikeliteError(f"granularity must be 'layer' or 'channel', got {granularity!r}")


def _by_channel(x: torch.Tensor) -> torch.Tensor:
    """``[B, C, ...] → [C, B·...]`` (a Linear's features are its channels)."""
    return x.transpose(0, 1).reshape(x.shape[1], -1)


class ActivationStats:
    """Running ``max`` / positive values of one ReLU's activations → its ``λ`` (a float, or
    a ``[C]`` tensor per channel); a layer or channel that never fires gets 1."""

    def __init__(self, method: str, percentile: float, per_channel: bool) -> None:
        self.method, self.percentile, self.per_channel = method, percentile, per_channel
        self.max: Any = None
        self.pos: list[torch.Tensor] = []

    def add(self, x: torch.Tensor) -> None:
        if not x.numel():
            return
        if self.per_channel:
            xc = _by_channel(x).detach().float().cpu()
            cur: Any = xc.max(1).values
            self.max = cur if self.max is None else torch.maximum(self.max, cur)
            if self.method == "percentile":
                self.pos.append(xc)
        else:
            cur = float(x.max())
            self.max = cur if self.max is None else max(self.max, cur)
            if self.method == "percentile":
                self.pos.append(x[x > 0].detach().float().cpu())

    def value(self) -> float | torch.Tensor:
        if self.per_channel:
            if self.max is None:
                return torch.ones(1)
            if self.method == "max":
                lam = self.max.clone()
            else:
                allc = torch.cat(self.pos, 1)
                lam = torch.tensor([_percentile(row[row > 0], self.percentile)
                                    if bool((row > 0).any()) else 0.0 for row in allc])
            return torch.where(lam > 0, lam, torch.ones_like(lam))
        if self.method == "max":
            lam_f = self.max or 0.0
        else:
            vals = torch.cat(self.pos) if self.pos else torch.empty(0)
            lam_f = _percentile(vals, self.percentile) if vals.numel() else 0.0
        return lam_f if lam_f > 0 else 1.0  # a silent layer: any θ > 0 gives no spikes


def _calibrate(
    layers: list[tuple[str, nn.Module]], data: torch.Tensor | Iterable, method: str,
    percentile: float, granularity: str = "layer",
) -> dict[str, float | torch.Tensor]:
    _check_method(method, percentile, granularity)
    stats = {name: ActivationStats(method, percentile, granularity == "channel")
             for name, m in layers if isinstance(m, nn.ReLU)}
    param = next((p for _, m in layers for p in m.parameters()), None)
    device = param.device if param is not None else torch.device("cpu")
    dtype = param.dtype if param is not None else torch.get_default_dtype()
    with torch.no_grad():
        for xb in _batches(data):
            x = xb.to(device=device, dtype=dtype)
            for name, m in layers:
                try:
                    x = m.eval()(x)
                except RuntimeError as exc:
                    raise SpikeliteError(
                        f"running calibration batch of shape {tuple(xb.shape)} through layer "
                        f"'{name}' ({type(m).__name__}) failed: {exc}"
                    ) from exc
                if name in stats:
                    stats[name].add(x)
    return {name: st.value() for name, st in stats.items()}


def calibrate_thresholds(
    ann: nn.Module,
    data: torch.Tensor | Iterable,
    method: ThresholdMethod = "percentile",
    percentile: float = 99.9,
    granularity: Literal["layer", "channel"] = "layer",
) -> dict[str, float | torch.Tensor]:
    """Per-ReLU activation scale ``λ_l`` on ``data``, keyed by the ReLU's qualified name.

    ``max``: the largest activation; ``percentile``: the ``percentile``-th percentile of the
    layer's *positive* activations (as the SNN Toolbox, Rueckauer et al. 2017), hence ≤ max.
    ``granularity="channel"``: one ``λ`` per channel (a conv's output channel, a Linear's
    feature) as a ``[C]`` tensor — channel-wise normalization (Kim et al., Spiking-YOLO,
    AAAI 2020). BatchNorm is folded first and the ANN runs in eval mode. ``data`` is a
    tensor ``[N, ...]`` or an iterable of batches (tensors or ``(x, y)`` tuples). A layer (or
    channel) that never fires gets 1.
    """
    return _calibrate(fold_layers(ann), data, method, percentile, granularity)


def _scale_inputs(m: nn.Module, scale: float | torch.Tensor, name: str) -> None:
    """``W' = W·s`` with ``s`` one number or one value per input channel of ``m``."""
    with torch.no_grad():
        if not isinstance(scale, torch.Tensor):
            m.weight.mul_(scale)
            return
        s = scale.to(m.weight.device, m.weight.dtype)
        if isinstance(m, nn.Linear):
            n = m.in_features
            if n % s.numel():
                raise SpikeliteError(f"layer '{name}': {n} inputs do not split into the "
                                     f"{s.numel()} channels of the preceding ReLU")
            m.weight.mul_(s.repeat_interleave(n // s.numel()).view(1, -1))  # channel-major
        else:
            if getattr(m, "groups", 1) != 1 or m.weight.shape[1] != s.numel():
                raise SpikeliteError(f"layer '{name}': channel-wise thresholds need an "
                                     "ungrouped conv whose inputs are the ReLU's channels; "
                                     "use granularity='layer'")
            m.weight.mul_(s.view(1, -1, *([1] * (m.weight.dim() - 2))))


class SimulationMixin:
    """Simulation helpers shared by :class:`ConvertedSNN` and the graph-converted
    :class:`~spikelite.convert.graph.ConvertedGraphSNN` (both map ``[T, B, ...]`` inputs to
    ``[T, B, out]``)."""

    thresholds: dict[str, float | torch.Tensor]
    neuron_names: dict[str, str]
    output_scale: float | torch.Tensor
    time_steps: int
    coding: str

    def simulate(
        self,
        x_static: torch.Tensor,
        time_steps: int | None = None,
        coding: Coding | None = None,
        *,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Encode a static batch, reset the neurons, run ``T`` steps and return the time-mean
        output ``[B, out]`` (≈ the ANN output)."""
        return self._run(x_static, time_steps, coding, generator)[0]

    def firing_rates(
        self,
        x_static: torch.Tensor,
        time_steps: int | None = None,
        coding: Coding | None = None,
        *,
        generator: torch.Generator | None = None,
    ) -> dict[str, torch.Tensor]:
        """Mean spike count per step ``[B, ...]`` of every converted ReLU (≈ ``a_l/λ_l``)."""
        return self._run(x_static, time_steps, coding, generator, rates=True)[1]

    def encode(
        self,
        x_static: torch.Tensor,
        time_steps: int | None = None,
        coding: Coding | None = None,
        *,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """The time-major input ``[T, B, ...]`` that :meth:`simulate` feeds the network (the
        defaults ``time_steps``/``coding`` of :func:`ann_to_snn`; on the model's device)."""
        T = self.time_steps if time_steps is None else time_steps
        x = encode_input(x_static, T, coding or self.coding, generator=generator)
        param = next(self.parameters(), None)
        if param is not None:
            x = x.to(device=param.device, dtype=param.dtype)
        return x

    def profile(
        self,
        x_static: torch.Tensor,
        time_steps: int | None = None,
        coding: Coding | None = None,
        *,
        preset: str | None = None,
        weight_format: str | None = None,
        batch_size: int = 256,
        generator: torch.Generator | None = None,
        **options: Any,
    ) -> Report:
        """:func:`spikelite.hardware.profile` of this SNN on a static batch ``[N, ...]``,
        encoded as :meth:`simulate` encodes it, in chunks of ``batch_size`` samples.

        The first synaptic layer sees the analog input with ``direct`` coding (counted as
        MACs), every later one the IF spikes (ACs = SynOps, ``Report.exact()["effective_ac"]``).
        ``preset``/``weight_format`` default to the profiler's; ``**options`` go to it too.
        """
        from spikelite.hardware import profile as hw_profile
        from spikelite.hardware.profiler import DEFAULT_FORMAT, DEFAULT_PRESET

        if x_static.dim() < 2 or x_static.shape[0] == 0:
            raise SpikeliteError(
                f"profile needs a non-empty static batch [N, ...], got shape "
                f"{tuple(x_static.shape)}"
            )
        batches = (self.encode(xb, time_steps, coding, generator=generator)
                   for xb in x_static.split(batch_size))
        return hw_profile(self, batches, preset or DEFAULT_PRESET,
                          weight_format or DEFAULT_FORMAT, time_major=True, **options)

    def _run(self, x_static, time_steps, coding, generator, rates=False):  # type: ignore[no-untyped-def]
        x = self.encode(x_static, time_steps, coding, generator=generator)
        got: dict[str, torch.Tensor] = {}
        hooks = []
        if rates:
            for key, name in self.neuron_names.items():
                hooks.append(self.get_submodule(key).register_forward_hook(
                    lambda _m, _i, out, name=name: got.__setitem__(name, out.mean(0))))
        reset_states(self)
        try:
            with torch.no_grad():
                y = self(x)
        finally:
            for h in hooks:
                h.remove()
            reset_states(self)
        scale = self.output_scale
        if isinstance(scale, torch.Tensor):  # per channel: [C] → broadcast over [B, C, ...]
            scale = scale.to(y.device, y.dtype).view(-1, *([1] * (y.dim() - 2)))
        return y.mean(0) * scale, got


class ConvertedSNN(SimulationMixin, nn.Sequential):
    """Time-major SNN from :func:`ann_to_snn`: ``[T, B, ...] → [T, B, out]`` (the read-out's
    per-step output). Attributes: ``thresholds`` (λ per ReLU name), ``neuron_names`` (module
    key → ReLU name), ``output_scale``, ``time_steps``, ``coding``.

    Its children are what :func:`spikelite.hardware.profile` counts: ``TimeDistributed``
    Conv/Linear (synaptic layers) and :class:`ConvertedIF` (spikelite neurons). Give the
    profiler :meth:`encode`'s output, or call :meth:`profile` with the static batch.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_time_major(x, "ConvertedSNN")
        return super().forward(x)


def ann_to_snn(
    ann: nn.Module,
    calibration_data: torch.Tensor | Iterable,
    *,
    threshold: ThresholdMethod = "percentile",
    percentile: float = 99.9,
    time_steps: int | None = None,
    coding: Coding = "direct",
    v_init: float = 0.5,
    granularity: Literal["layer", "channel"] = "layer",
) -> ConvertedSNN:
    """Convert a ReLU ``nn.Sequential`` ANN into a time-major IF SNN (reset by subtraction).

    Supported: Linear, Conv1d/2d/3d, AvgPool/AdaptiveAvgPool, BatchNorm right after a
    Conv/Linear (folded), ReLU, Flatten, Dropout/Identity (removed), nested Sequentials;
    anything else (MaxPool, Sigmoid, GELU, custom modules, …) raises :class:`SpikeliteError`
    naming the layer and the alternative. Thresholds come from :func:`calibrate_thresholds`
    with ``threshold`` (``"max"`` or ``"percentile"``). ``time_steps`` (default 100) and
    ``coding`` (``"direct"``/``"rate"``) are the defaults of :meth:`ConvertedSNN.simulate`;
    ``v_init`` is the initial membrane as a fraction of θ. ``granularity="channel"`` gives
    every channel its own threshold (and scales the next layer's input weights per channel).
    The ANN is not modified.
    """
    if time_steps is None:
        time_steps = 100
    if isinstance(time_steps, bool) or not isinstance(time_steps, int) or time_steps < 1:
        raise SpikeliteError(f"time_steps must be a positive integer, got {time_steps!r}")
    if coding not in ("direct", "rate"):
        raise SpikeliteError(f"unknown input coding '{coding}'; use 'direct' or 'rate'")
    layers = fold_layers(ann)
    lambdas = _calibrate(layers, calibration_data, threshold, percentile, granularity)
    mods: OrderedDict[str, nn.Module] = OrderedDict()
    neuron_names: dict[str, str] = {}
    scale: float | torch.Tensor = 1.0
    for name, m in layers:
        key = name.replace(".", "_")
        if isinstance(m, WEIGHTED):
            _scale_inputs(m, scale, name)
            mods[key] = TimeDistributed(m)
            scale = 1.0
        elif isinstance(m, POOLS):
            mods[key] = TimeDistributed(m)
        elif isinstance(m, nn.Flatten):
            mods[key] = Flatten()
        elif isinstance(m, nn.ReLU):
            mods[key] = ConvertedIF(lambdas[name] / scale, v_init=v_init)
            neuron_names[key] = name
            scale = lambdas[name]
        else:  # pragma: no cover - fold_layers(check=True) rejects everything else
            raise SpikeliteError(f"internal: unexpected layer '{name}'")
    param = next((p for p in ann.parameters()), None)
    snn = ConvertedSNN(mods)
    if param is not None:
        snn = snn.to(device=param.device)
    snn.thresholds = lambdas
    snn.neuron_names = neuron_names
    snn.output_scale = scale
    snn.time_steps = time_steps
    snn.coding = coding
    return snn.eval()
