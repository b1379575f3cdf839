"""The schedule interface and its registry.

A compression schedule is a class registered in :data:`SCHEDULES` under its name, with

* ``validate(spec, finetune)``: raise ``ValueError`` (a one-line message naming the fix)
  when the spec's settings do not fit the schedule; ``finetune`` is the fine-tuning in
  effect, or ``None`` when not known yet (epoch-dependent rules are then skipped);
* ``run(model, data, spec, finetune, ctx)`` → :class:`~spikelite.compress.CompressionResult`.

Adding a schedule = one file in this package (registered with
``@SCHEDULES.register("name")``, imported in ``__init__``) + its test + its doc section.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from rich.console import Console
from torch import nn
from torch.utils.data import Dataset

from spikelite._registry import Registry
from spikelite.train.lowbit import LowBitFinetuner

if TYPE_CHECKING:
    from spikelite.compress.result import CompressionResult
    from spikelite.compress.spec import CompressionSpec
    from spikelite.train.config import FinetuneSpec
    from spikelite.train.resume import StageFolders


@dataclass(frozen=True)
class RunContext:
    """Where and how a schedule runs: device, progress bars, console, the folders its
    training stages checkpoint into and resume from (``checkpoints``, a
    :class:`~spikelite.train.resume.StageFolders`; ``None``: no checkpoints); the baseline
    as distillation ``teacher`` and its ``reference_accuracy`` (low-bit fine-tuning)."""

    device: str = "auto"
    progress: bool = False
    console: Console | None = None
    checkpoints: StageFolders | None = None
    teacher: nn.Module | None = None
    reference_accuracy: float | None = None

    def kwargs(self) -> dict[str, Any]:
        return {"device": self.device, "progress": self.progress, "console": self.console,
                "checkpoints": self.checkpoints}

    def trainer(self) -> LowBitFinetuner:
        """The ``fit``-compatible trainer of this run (plain ``fit`` unless the fine-tuning
        spec turns low-bit options on)."""
        return LowBitFinetuner(self.teacher, self.reference_accuracy)


class Schedule:
    """Base class of compression schedules (see the module docstring)."""

    #: one line for listings and docs
    summary: ClassVar[str] = ""
    #: whether an activity regularizer may be added to its fine-tuning loss
    accepts_regularizer: ClassVar[bool] = False
    #: whether it trains (needs ``finetune.epochs >= 1``)
    trains: ClassVar[bool] = True

    @classmethod
    def validate(cls, spec: CompressionSpec, finetune: FinetuneSpec | None) -> None:
        if cls.trains and finetune is not None and finetune.epochs < 1:
            raise ValueError(f"schedule '{spec.schedule}' fine-tunes: set finetune.epochs "
                             ">= 1 (or use schedule ptq for no training)")

    @staticmethod
    def check_stages(finetune: FinetuneSpec, stages: dict[str, int]) -> None:
        """Each training stage (name → epochs) must fit the learning-rate warm-up and the
        low-bit segments (``bit_schedule`` phases + ``cycles``)."""
        segments = len(getattr(finetune, "bit_schedule", [])) + getattr(finetune, "cycles", 1)
        for stage, epochs in stages.items():
            if epochs >= 1 and epochs < segments:
                raise ValueError(f"the {stage} stage has {epochs} epoch(s) but finetune."
                                 f"bit_schedule + cycles need {segments} (one per segment); "
                                 "give it more epochs or shorten bit_schedule / cycles")
            if epochs >= 1 and finetune.warmup_epochs > epochs:
                raise ValueError(f"finetune.warmup_epochs ({finetune.warmup_epochs:g}) is "
                                 f"longer than the {stage} stage ({epochs} epochs); shorten "
                                 "the warm-up or give the stage more epochs")

    @classmethod
    def run(
        cls,
        model: nn.Module,
        data: tuple[Dataset, Dataset],
        spec: CompressionSpec,
        finetune: FinetuneSpec,
        ctx: RunContext,
    ) -> CompressionResult:
        raise NotImplementedError


SCHEDULES: Registry[type[Schedule]] = Registry("schedule")


def accepting_regularizer() -> list[str]:
    """Names of the schedules that take an activity regularizer, in registry order."""
    return [n for n in SCHEDULES.names() if SCHEDULES.get(n).accepts_regularizer]
