"""``Registry.build``: the one "name or instance + options → instance" builder."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from spikelite._registry import Registry, keyword_options
from spikelite.errors import SpikeliteError


@dataclass(frozen=True)
class Widget:
    size: int = 1
    color: str = "red"


def _registry() -> Registry[Any]:
    reg: Registry[Any] = Registry("widget", instance_of=Widget)
    reg.register("plain")(Widget)

    def loose(**kw: Any) -> Widget:
        if kw:
            raise SpikeliteError(f"loose takes no options, got {', '.join(kw)}")
        return Widget()

    reg.register("loose")(loose)

    def picky(size: int = 1) -> Widget:
        if not isinstance(size, int):
            raise TypeError("size must be an int")
        return Widget(size)

    reg.register("picky")(picky)
    return reg


def test_build_by_name_with_options() -> None:
    reg = _registry()
    assert reg.build("plain") == Widget()
    assert reg.build("PLAIN", size=3, color="blue") == Widget(3, "blue")


def test_build_returns_an_instance_as_is_and_refuses_options_with_it() -> None:
    reg = _registry()
    w = Widget(7)
    assert reg.build(w) is w
    with pytest.raises(SpikeliteError, match="pass widget options either in the instance"):
        reg.build(w, size=2)


def test_build_lists_valid_names_and_options() -> None:
    reg = _registry()
    with pytest.raises(SpikeliteError, match="unknown widget 'gear'. Valid widget names: "
                                             "loose, picky, plain"):
        reg.build("gear")
    with pytest.raises(SpikeliteError, match=r"bad options for widget 'plain': no option\(s\) "
                                             r"colour, sise. Valid options: size, color"):
        reg.build("plain", sise=2, colour="x")


def test_build_leaves_kwargs_factories_to_check_themselves_and_wraps_type_errors() -> None:
    reg = _registry()
    with pytest.raises(SpikeliteError, match="loose takes no options"):
        reg.build("loose", size=2)
    with pytest.raises(SpikeliteError, match="bad options for widget 'picky': size must"):
        reg.build("picky", size="big")


def test_build_without_instance_type_and_parameter_wording() -> None:
    reg: Registry[Any] = Registry("gadget", options="parameters")
    reg.register("w")(Widget)
    with pytest.raises(SpikeliteError, match="unknown gadget"):
        reg.build(Widget())  # no instance_of: only names
    with pytest.raises(SpikeliteError, match=r"bad parameters for gadget 'w': no parameter\(s\) "
                                             "x. Valid parameters: size, color"):
        reg.build("w", x=1)


def test_keyword_options() -> None:
    assert keyword_options(Widget) == ["size", "color"]
    assert keyword_options(lambda **kw: kw) is None
    assert keyword_options(lambda a, /, b, *, c: a) == ["b", "c"]


@pytest.mark.parametrize("getter,name,instance_type", [
    ("spikelite.core.surrogates:get_surrogate", "atan", "spikelite.core.surrogates:Surrogate"),
    ("spikelite.prune.criteria:get_criterion", "svs", "spikelite.prune.criteria:Criterion"),
    ("spikelite.hardware.formats:get_format", "rle", "spikelite.hardware.formats:WeightFormat"),
    ("spikelite.quant.functional:get_quantizer", "duq", "spikelite.quant.schemes:QuantScheme"),
    ("spikelite.hardware.presets:get_preset", "horowitz45",
     "spikelite.hardware.presets:CostPreset"),
])
def test_public_builders_share_it(getter: str, name: str, instance_type: str) -> None:
    import importlib

    def load(ref: str) -> Any:
        mod, _, attr = ref.partition(":")
        return getattr(importlib.import_module(mod), attr)

    get, cls = load(getter), load(instance_type)
    obj = get(name)
    assert isinstance(obj, cls) and get(obj) is obj
    with pytest.raises(SpikeliteError, match="Valid .* names"):
        get("no-such-thing")
