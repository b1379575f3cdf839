"""Hardware cost model: exact counting, deployed size, energy with named constant sets.

* :func:`profile` — run a model on data with hooks, count exactly (from codes, masks and
  recorded activity), cost with a preset and weight format → :class:`Report`;
* :func:`model_size` — deployed bits per layer/format, or QP-SNN's model-size convention;
* :data:`PRESETS` / :func:`get_preset` — ``horowitz45``, ``horowitz45-derived``,
  ``compute-only-fp32``, ``lemaire22``, ``sparseloop-eyeriss45``;
* :data:`FORMATS` / :func:`get_format` — ``dense``, ``bitmask``, ``coo``, ``csr``, ``rle``,
  ``uop``, ``ubm``.

See ``docs/hardware.md`` for the formulas and their sources.
"""

from spikelite.hardware.counting import Activity, ActivityRecorder, NeuronActivity, SynapticActivity
from spikelite.hardware.energy import CostOptions, LayerCost, ops_energy, resolve_options
from spikelite.hardware.formats import FORMATS, FiberCost, WeightFormat, get_format, list_formats
from spikelite.hardware.layers import SynapticSpec, classify
from spikelite.hardware.neurobench import (
    footprint_bytes,
    neurobench_metrics,
    neurobench_results,
    write_neurobench_json,
)
from spikelite.hardware.neurobench_adapter import neurobench_benchmark, to_neurobench
from spikelite.hardware.presets import PRESETS, CostPreset, MemoryLevel, get_preset, list_presets
from spikelite.hardware.profiler import cost_activity, iter_batches, profile, record_activity
from spikelite.hardware.report import Report
from spikelite.hardware.size import SizeReport, layer_storage, model_size, neuron_counts

__all__ = [
    "FORMATS", "PRESETS", "Activity", "ActivityRecorder", "CostOptions", "CostPreset",
    "FiberCost", "LayerCost", "MemoryLevel", "NeuronActivity", "Report", "SizeReport",
    "SynapticActivity", "SynapticSpec", "WeightFormat", "classify", "cost_activity",
    "footprint_bytes", "get_format", "get_preset", "iter_batches", "layer_storage",
    "list_formats", "list_presets", "model_size", "neurobench_benchmark", "neurobench_metrics",
    "neurobench_results", "neuron_counts",
    "ops_energy",
    "profile", "record_activity", "resolve_options", "to_neurobench",
    "write_neurobench_json",
]
