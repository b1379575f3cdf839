"""Deprecated: the records that lived here moved to the package each describes
(``DataSpec`` → :mod:`spikelite.data.spec`, ``ModelSpec`` → :mod:`spikelite.models.spec`,
``TrainSpec``/``FinetuneSpec`` → :mod:`spikelite.train.config`, ``RunConfig`` →
:mod:`spikelite.train.run`, ``RegularizerSpec`` → :mod:`spikelite.regularize`, the
compression records → :mod:`spikelite.compress.spec`) and the YAML/validation helpers to
:mod:`spikelite.records` (``parse_config`` is now ``parse_record``)."""

from spikelite._deprecation import moved

_MOVED = {
    "DataSpec": ("spikelite.data.spec", "DataSpec"),
    "ModelSpec": ("spikelite.models.spec", "ModelSpec"),
    "TrainSpec": ("spikelite.train.config", "TrainSpec"),
    "FinetuneSpec": ("spikelite.train.config", "FinetuneSpec"),
    "RunConfig": ("spikelite.train.run", "RunConfig"),
    "load_config": ("spikelite.train.run", "load_config"),
    "RegularizerSpec": ("spikelite.regularize", "RegularizerSpec"),
    "QuantConfig": ("spikelite.compress.spec", "QuantConfig"),
    "PruneConfig": ("spikelite.compress.spec", "PruneConfig"),
    "CompressConfig": ("spikelite.compress.spec", "CompressConfig"),
    "CHANNEL_METHODS": ("spikelite.compress.spec", "CHANNEL_METHODS"),
    "parse_key_values": ("spikelite.records", "parse_key_values"),
    "read_yaml": ("spikelite.records", "read_yaml"),
    "set_dotted": ("spikelite.records", "set_dotted"),
    "merge": ("spikelite.records", "merge"),
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


__getattr__ = moved(__name__, _MOVED)
