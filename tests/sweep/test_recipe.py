"""Recipe validation: grids expand to valid points, bad keys and values name themselves."""

from __future__ import annotations

import pytest

from spikelite.errors import SpikeliteError
from spikelite.records import parse_record as parse_config
from spikelite.sweep.recipe import PointSpec, Recipe, builtin_recipes, load_recipe, run_key


def test_grid_expands_to_the_cartesian_product_without_duplicates():
    r = Recipe.model_validate({"grid": [
        {"schedule": ["joint", "cumulative"], "scheme": "duq", "bits": [4, 2],
         "method": "magnitude", "sparsity": [0.5, 0.8]},
        {"schedule": "joint", "scheme": "duq", "bits": 4, "method": "magnitude",
         "sparsity": 0.5},  # a duplicate of the first block's first point
    ]})
    pts = r.expand()
    assert len(pts) == 8
    assert {p.label for p in pts} >= {"joint-duq4-magnitude50", "cumulative-duq2-magnitude80"}


def test_every_builtin_recipe_is_valid():
    names = builtin_recipes()
    assert "demo" in names
    for name in names:
        assert load_recipe(name).expand(), name


def test_demo_recipe_covers_the_issue_grid():
    pts = load_recipe("demo").expand()
    labels = {p.label for p in pts}
    for scheme in ("duq", "rescaw"):
        for bits in (8, 4, 3, 2):
            assert f"isolation-{scheme}{bits}" in labels
    for sp in (50, 80, 90):
        assert f"joint-duq4-magnitude{sp}" in labels
        assert f"cumulative-duq4-magnitude{sp}" in labels
    assert "qp-rescaw4-svs50" in labels and "fp32" in labels


def test_unknown_key_is_named_with_the_allowed_ones(tmp_path):
    bad = tmp_path / "r.yaml"
    bad.write_text("name: x\nhardware: {presets: [horowitz45], formts: [rle]}\n")
    with pytest.raises(SpikeliteError) as e:
        load_recipe(bad)
    msg = str(e.value)
    assert "hardware.formts: unknown key" in msg and "formats" in msg and "presets" in msg


@pytest.mark.parametrize(("raw", "needle"), [
    ({"schedule": "joint", "scheme": "duq", "bits": 4, "method": "svs", "sparsity": 0.5},
     "qp or pq"),
    ({"schedule": "qp", "scheme": "rescaw", "bits": 4, "method": "magnitude",
      "sparsity": 0.5}, "channel pruning"),
    ({"schedule": "baseline", "scheme": "duq", "bits": 4}, "baseline"),
    ({"schedule": "joint", "scheme": "nope", "bits": 4}, "nope"),
    ({"schedule": "joint", "method": "magnitude", "sparsity": 1.0}, "sparsity"),
    ({"schedule": "cumulative", "scheme": "duq", "bits": 4}, "cumulative"),
    ({"schedule": "joint", "bits": 4, "method": "magnitude", "sparsity": 0.5}, "scheme"),
])
def test_inconsistent_points_are_rejected(raw, needle):
    with pytest.raises(SpikeliteError) as e:
        parse_config(raw, "point", PointSpec)
    assert needle in str(e.value)


def test_bad_grid_combination_is_reported_with_its_block():
    with pytest.raises(SpikeliteError) as e:
        parse_config({"grid": [{"schedule": "qp", "scheme": "rescaw", "bits": 4,
                                "method": ["svs", "magnitude"], "sparsity": 0.5}]},
                     "r.yaml", Recipe)
    assert "grid" in str(e.value) or "channel" in str(e.value)


def test_unknown_preset_and_format_are_rejected():
    with pytest.raises(SpikeliteError):
        parse_config({"hardware": {"presets": ["nope45"]}}, "r", Recipe)
    with pytest.raises(SpikeliteError):
        parse_config({"hardware": {"formats": ["zip"]}}, "r", Recipe)
    # cost options are checked before anything runs, not when the first point is costed
    with pytest.raises(SpikeliteError, match="batchnorm must be one of ignore, fold"):
        parse_config({"hardware": {"options": {"batchnorm": "merge"}}}, "r", Recipe)
    with pytest.raises(SpikeliteError, match="unknown cost option"):
        parse_config({"hardware": {"options": {"membrne": "sram_rmw"}}}, "r", Recipe)
    ok = parse_config({"hardware": {"options": {"batchnorm": "fold", "residual": "count"}}},
                      "r", Recipe)
    assert ok.hardware.options == {"batchnorm": "fold", "residual": "count"}


def test_run_key_depends_on_what_changes_the_result_only():
    r = Recipe()
    a = PointSpec(schedule="joint", scheme="duq", bits=4, name="first name")
    b = PointSpec(schedule="joint", scheme="duq", bits=4, name="second name")
    c = PointSpec(schedule="joint", scheme="duq", bits=2)
    assert run_key(r, a) == run_key(r, b) != run_key(r, c)
    other = Recipe.model_validate({"finetune": {"epochs": 5}})
    assert run_key(other, a) != run_key(r, a)


def test_missing_recipe_names_the_builtins():
    with pytest.raises(SpikeliteError) as e:
        load_recipe("no-such-recipe")
    assert "demo" in str(e.value)


def test_labels_name_per_layer_settings_in_layer_order():
    p = PointSpec(schedule="joint", scheme="duq", bits=8,
                  layer_bits={"conv1.module": None, "fc.module": 4},
                  method="magnitude", layer_sparsity={"conv1.module": 0.9, "fc.module": 0.5})
    assert p.label == "joint-duqfp.4-magnitude90.50"
    assert PointSpec(schedule="qp", scheme="rescaw", bits=4, method="l1",
                     sparsity=0.5).label == "qp-rescaw4-l1-50"


def test_run_keys_stored_before_membrane_regularizers_existed_are_unchanged():
    # '2729525098da' is this point's key as computed before `regularizer.source` was added:
    # a sweep folder from then is resumed, not rerun
    r = Recipe()
    spikes = PointSpec(schedule="finetune", regularizer={"name": "l1", "weight": 1e-4})
    assert run_key(r, spikes) == "2729525098da"
    membrane = PointSpec(schedule="finetune",
                         regularizer={"name": "l1", "weight": 1e-4, "source": "membrane"})
    per_layer = PointSpec(schedule="finetune",
                          regularizer={"name": "l1", "weight": {"lif1": 1e-4}})
    assert len({run_key(r, spikes), run_key(r, membrane), run_key(r, per_layer)}) == 3
    assert membrane.label == "finetune-l1@membrane@0.0001"
