"""The layering of docs/architecture.md holds: the import contracts pass, a deliberate
violation makes them fail, and no private name is imported across packages."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "spikelite"
LINT = Path(sys.executable).with_name("lint-imports")

needs_linter = pytest.mark.skipif(not LINT.is_file(),
                                  reason="import-linter is not installed (pip install -e '.[dev]')")


def _lint(src_parent: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LINT), str(ROOT / ".importlinter")],
                          capture_output=True, text=True, cwd=ROOT,
                          env={"PYTHONPATH": str(src_parent), "PATH": "/usr/bin:/bin"})


@needs_linter
def test_the_import_contracts_hold():
    res = _lint(SRC.parent)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "0 broken" in res.stdout


@needs_linter
@pytest.mark.parametrize(("module", "line", "broken"), [
    # an upward import, even a lazy one inside a function: core must not know sweeps
    ("core/functional.py", "def _violation():\n    import spikelite.sweep  # noqa\n",
     "spikelite.core is not allowed to import spikelite.sweep"),
    # a cycle between two siblings of one package
    ("compress/schedules/base.py", "def _violation():\n    import spikelite.compress.run\n",
     "- .schedules -> .run"),
])
def test_a_deliberate_violation_breaks_the_contracts(tmp_path, module, line, broken):
    copy = tmp_path / "spikelite"
    shutil.copytree(SRC, copy, ignore=shutil.ignore_patterns("__pycache__"))
    with (copy / module).open("a") as f:
        f.write("\n\n" + line)
    res = _lint(tmp_path)
    assert res.returncode != 0
    assert "BROKEN" in res.stdout and broken in res.stdout


def _top(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2])


def test_no_private_name_is_imported_across_packages():
    bad = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC.parent).with_suffix("")
        here = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ImportFrom) or node.level or not node.module:
                continue
            if not node.module.startswith("spikelite") or _top(node.module) == _top(here):
                continue
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    bad.append(f"{here}: from {node.module} import {alias.name}")
    assert not bad, "\n".join(bad)
