"""A sweep whose setup fails (a missing data root) leaves nothing behind it created."""

from __future__ import annotations

import pytest

from spikelite.errors import SpikeliteError
from spikelite.sweep.sweep import run_sweep

from ._tiny import tiny_recipe


def test_missing_data_root_leaves_no_folder_behind(tmp_path):
    data = {"name": "nmnist", "root": str(tmp_path / "absent"), "time_steps": 4}
    recipe = tiny_recipe(tmp_path / "runs" / "miss", data=data)
    for _ in range(2):
        with pytest.raises(SpikeliteError, match="does not exist"):
            run_sweep(recipe, progress=False, check=False)
    assert not (tmp_path / "runs").exists()


def test_an_existing_sweep_folder_is_kept(tmp_path):
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "notes.txt").write_text("mine")
    data = {"name": "nmnist", "root": str(tmp_path / "absent"), "time_steps": 4}
    with pytest.raises(SpikeliteError, match="does not exist"):
        run_sweep(tiny_recipe(tmp_path / "old", data=data), progress=False, check=False)
    assert sorted(p.name for p in (tmp_path / "old").iterdir()) == ["notes.txt"]
