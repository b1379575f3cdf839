"""Deprecated: the records that lived here moved to the package each describes
(``DataSpec`` → :mod:`spikelite.data.spec`, ``ModelSpec`` → :mod:`spikelite.models.spec`,
``TrainSpec``/``FinetuneSpec`` → :mod:`spikelite.train.config`, ``RunConfig`` →
:mod:`spikelite.train.run`, ``RegularizerSpec`` → :mod:`spikelite.regularize`, the
compression records → :mod:`spikelite.compress.spec`) and the YAML/validation helpers to
:mod:`spikelite.records` (``parse_config`` is now ``parse_record``)."""

from spikelite._deprecated import alias_module

_MOVED = {
    "DataSpec": "spikelite.data.spec",
    "ModelSpec": "spikelite.models.spec",
    "TrainSpec": "spikelite.train.config",
    "FinetuneSpec": "spikelite.train.config",
    "RunConfig": "spikelite.train.run",
    "load_config": "spikelite.train.run",
    "RegularizerSpec": "spikelite.regularize",
    "QuantConfig": "spikelite.compress.spec",
    "PruneConfig": "spikelite.compress.spec",
    "CompressConfig": "spikelite.compress.spec",
    "CHANNEL_METHODS": "spikelite.compress.spec",
    "parse_key_values": "spikelite.records",
    "read_yaml": "spikelite.records",
    "set_dotted": "spikelite.records",
    "merge": "spikelite.records",
}


def parse_config(data, source="config", kind=None):  # type: ignore[no-untyped-def]
    """Deprecated: :func:`spikelite.records.parse_record` (``kind`` defaults to
    :class:`~spikelite.train.run.RunConfig`)."""
    import warnings

    from spikelite.records import parse_record
    from spikelite.train.run import RunConfig

    warnings.warn("spikelite.config.parse_config moved to spikelite.records.parse_record",
                  DeprecationWarning, stacklevel=2)
    return parse_record(data, source, kind or RunConfig)


__getattr__ = alias_module(__name__, _MOVED)
