"""Deprecated: ``run_training``/``TrainOutcome`` moved to :mod:`spikelite.train.run`,
``load_data`` to :mod:`spikelite.data.spec`, ``build_model``/``model_kwargs_for_data`` to
:mod:`spikelite.models.spec`."""

from spikelite._deprecated import alias_module

_MOVED = {
    "run_training": "spikelite.train.run",
    "TrainOutcome": "spikelite.train.run",
    "load_data": "spikelite.data.spec",
    "build_model": "spikelite.models.spec",
    "model_kwargs_for_data": "spikelite.models.spec",
}

__getattr__ = alias_module(__name__, _MOVED)
