"""README's Python examples run as written (in a scratch directory, since they write files)."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


@pytest.mark.no_x64
@pytest.mark.parametrize("k", range(len(BLOCKS)))
def test_readme_python_example_runs(k, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    script = tmp_path / f"example{k}.py"
    script.write_text(BLOCKS[k])
    runpy.run_path(str(script), run_name="__main__")
