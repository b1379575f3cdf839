"""``DataSpec``: which dataset to load and how, as a validated record; :func:`load_data`."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, Field

from spikelite.data.datasets import DATASETS, load
from spikelite.data.encoding import ENCODERS
from spikelite.records import Strict, registered


class DataSpec(Strict):
    """Which dataset to load and how (see :func:`spikelite.data.load`)."""

    name: Annotated[str, AfterValidator(registered(DATASETS))] = "digits-dvs"
    time_steps: int = Field(10, ge=1)
    seed: int = Field(0, ge=0)
    test_fraction: float = Field(0.2, gt=0, lt=1)
    encoding: Annotated[str, AfterValidator(registered(ENCODERS))] = "rate"
    limit: int | None = Field(None, ge=1)
    root: str | None = None
    kwargs: dict[str, Any] = Field(default_factory=dict)


def load_data(spec: DataSpec) -> tuple[Any, Any]:
    """``spikelite.data.load`` with the spec's fields → ``(train, test)``."""
    return load(
        spec.name,
        root=spec.root,
        time_steps=spec.time_steps,
        seed=spec.seed,
        test_fraction=spec.test_fraction,
        encoding=spec.encoding,
        limit=spec.limit,
        **spec.kwargs,
    )
