"""Knowledge distillation from the full-precision baseline into a compressed SNN.

With student / teacher logits ``s``, ``t`` — the time-averaged outputs ``mean_t out_t``,
the logits of the ``ce`` loss — temperature ``T`` and mixing weight ``α`` (Hinton, Vinyals
& Dean 2015, "Distilling the Knowledge in a Neural Network", §2)::

    L = (1 − α)·L_task(out, y) + α·T²·KL(softmax(t/T) ‖ softmax(s/T))

KL is summed over classes and averaged over the batch (``F.kl_div(...,
reduction="batchmean")``); the ``T²`` factor keeps the soft-target gradients on the scale
of the hard-target ones when ``T`` changes. With ``features: true`` the per-layer firing
rates (spikes of every spiking neuron averaged over time, ``[B, ...]``) are matched too::

    L += β · mean_l MSE(r_l^student, r_l^teacher)

layers paired by name; a layer whose shape changed (channel pruning) is matched on each
sample's mean rate instead. The teacher runs in eval mode under ``torch.no_grad``; its
weights are never changed. :class:`Distiller` is the ``criterion`` hook of
:func:`spikelite.train.fit`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from pydantic import field_validator
from torch import nn

from spikelite.core.checks import naming_layers
from spikelite.core.neurons import LIF, reset_states
from spikelite.errors import SpikeliteError
from spikelite.records import Strict
from spikelite.train.losses import LossFn, time_mean


class DistillSpec(Strict):
    """``finetune.distill``: ``temperature`` T > 0, ``alpha`` ∈ [0, 1] (weight of the
    soft-target term; 0 = the task loss only), ``features`` (match per-layer firing rates)
    with weight ``feature_weight`` β ≥ 0."""

    temperature: float = 4.0
    alpha: float = 0.5
    features: bool = False
    feature_weight: float = 1.0

    @field_validator("temperature")
    @classmethod
    def _temperature(cls, v: float) -> float:
        if not (v > 0 and math.isfinite(v)):
            raise ValueError(f"distill.temperature must be > 0 and finite, got {v}")
        return v

    @field_validator("alpha")
    @classmethod
    def _alpha(cls, v: float) -> float:
        if not 0 <= v <= 1:
            raise ValueError(f"distill.alpha must lie in [0, 1], got {v}")
        return v

    @field_validator("feature_weight")
    @classmethod
    def _beta(cls, v: float) -> float:
        if not (v >= 0 and math.isfinite(v)):
            raise ValueError(f"distill.feature_weight must be >= 0 and finite, got {v}")
        return v


def kd_kl(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """``T²·KL(softmax(teacher/T) ‖ softmax(student/T))``, batch mean; logits ``[B, C]``."""
    t = float(temperature)
    log_p = F.log_softmax(student / t, dim=-1)
    log_q = F.log_softmax(teacher.detach() / t, dim=-1)
    return F.kl_div(log_p, log_q, reduction="batchmean", log_target=True) * (t * t)


def distill_loss(out: torch.Tensor, teacher_out: torch.Tensor, target: torch.Tensor,
                 spec: DistillSpec, task_loss: LossFn) -> torch.Tensor:
    """``(1 − α)·task_loss(out, y) + α·T²·KL`` on the time-averaged outputs."""
    hard = task_loss(out, target)
    if spec.alpha == 0:
        return hard
    soft = kd_kl(time_mean(out), time_mean(teacher_out), spec.temperature)
    return (1 - spec.alpha) * hard + spec.alpha * soft


def rate_match(student: dict[str, torch.Tensor], teacher: dict[str, torch.Tensor]) -> torch.Tensor:
    """``mean_l MSE(r_l^s, r_l^t)`` over the layers both recorded; a layer whose rate maps
    differ in shape is compared on each sample's mean rate."""
    terms = []
    for name, rs in student.items():
        rt = teacher.get(name)
        if rt is None:
            continue
        if rs.shape != rt.shape:
            rs, rt = rs.reshape(rs.shape[0], -1).mean(1), rt.reshape(rt.shape[0], -1).mean(1)
        terms.append(F.mse_loss(rs, rt.detach()))
    if not terms:
        raise SpikeliteError("distill.features: the student and the teacher share no spiking "
                             "layer names to match; set features: false")
    return torch.stack(terms).mean()


class _Rates:
    """Forward hooks recording the time-averaged spikes of every spiking neuron."""

    def __init__(self, model: nn.Module) -> None:
        self.rates: dict[str, torch.Tensor] = {}
        self.handles = [m.register_forward_hook(self._hook(n))
                        for n, m in model.named_modules() if isinstance(m, LIF)]

    def _hook(self, name: str) -> Callable[..., None]:
        def hook(_m: nn.Module, _i: Any, out: torch.Tensor) -> None:
            if isinstance(out, torch.Tensor) and out.dim() >= 2:
                self.rates[name] = out.mean(0)
        return hook

    def remove(self) -> None:
        for h in self.handles:
            h.remove()
        self.handles.clear()


class Distiller:
    """The teacher and the distillation loss, as :func:`~spikelite.train.fit`'s
    ``criterion(x, out, y)``. Puts the teacher in eval mode and freezes its parameters
    for its lifetime (restored by :meth:`close`); ``teacher_seconds`` accumulates the
    teacher's forward time and ``calls`` the steps."""

    def __init__(self, teacher: nn.Module, student: nn.Module, spec: DistillSpec,
                 task_loss: LossFn) -> None:
        if teacher is student:
            raise SpikeliteError("the distillation teacher must be a separate model (a copy "
                                 "of the baseline), not the model being trained")
        self.teacher, self.spec, self.task_loss = teacher, spec, task_loss
        self._grad = [(p, p.requires_grad) for p in teacher.parameters()]
        self._was_training = teacher.training
        teacher.eval()
        for p, _ in self._grad:
            p.requires_grad_(False)
        self._student = _Rates(student) if spec.features else None
        self._teacher = _Rates(teacher) if spec.features else None
        self.teacher_seconds = 0.0
        self.calls = 0

    def __call__(self, x: torch.Tensor, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        dev = x.device
        if next(self.teacher.parameters(), torch.empty(0, device=dev)).device != dev:
            self.teacher.to(dev)
        t0 = time.perf_counter()
        with torch.no_grad():
            reset_states(self.teacher)
            with naming_layers(self.teacher):
                t_out = self.teacher(x)
            reset_states(self.teacher)
        self.teacher_seconds += time.perf_counter() - t0
        self.calls += 1
        if t_out.shape != out.shape:
            raise SpikeliteError(f"the teacher's output {tuple(t_out.shape)} does not match the "
                                 f"student's {tuple(out.shape)}; distil from the baseline of "
                                 "the same model and data")
        loss = distill_loss(out, t_out, y, self.spec, self.task_loss)
        if self._student is not None and self._teacher is not None \
                and self.spec.feature_weight > 0:
            loss = loss + self.spec.feature_weight * rate_match(self._student.rates,
                                                                self._teacher.rates)
            self._student.rates.clear()
            self._teacher.rates.clear()
        return loss

    def close(self) -> None:
        """Remove the hooks and restore the teacher's mode and ``requires_grad`` flags."""
        for r in (self._student, self._teacher):
            if r is not None:
                r.remove()
        for p, g in self._grad:
            p.requires_grad_(g)
        self.teacher.train(self._was_training)
