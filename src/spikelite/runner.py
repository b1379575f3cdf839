"""Deprecated: ``run_training``/``TrainOutcome`` moved to :mod:`spikelite.train.run`,
``load_data`` to :mod:`spikelite.data.spec`, ``build_model``/``model_kwargs_for_data`` to
:mod:`spikelite.models.spec`."""

from spikelite._deprecation import moved

_MOVED = {
    "run_training": ("spikelite.train.run", "run_training"),
    "TrainOutcome": ("spikelite.train.run", "TrainOutcome"),
    "load_data": ("spikelite.data.spec", "load_data"),
    "build_model": ("spikelite.models.spec", "build_model"),
    "model_kwargs_for_data": ("spikelite.models.spec", "model_kwargs_for_data"),
}

__getattr__ = moved(__name__, _MOVED)
