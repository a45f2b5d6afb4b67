"""The app notebooks as a data scientist runs them in JupyterLab: a plain kernel (no Voilà, no login, the
database of ``EURALIS_DATABASE_URL``), every cell executed by nbval. ``--nbval-lax``: a cell must not raise;
outputs are not compared (notebooks are committed stripped). The job notebooks run through papermill in
tests/test_pipeline.py."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

from euralis_lib.config import PROJECT_ROOT

APPS = PROJECT_ROOT / "notebooks" / "apps"


def test_every_app_notebook_runs_cell_by_cell_in_a_plain_kernel(shared_sim_url, tmp_path):
    carnets = sorted(APPS.glob("*.ipynb"))
    cellules = sum(c["cell_type"] == "code" for p in carnets for c in json.loads(p.read_text())["cells"])
    env = {**os.environ, "EURALIS_DATABASE_URL": shared_sim_url, "EURALIS_HOME": str(tmp_path)}
    for variable in [v for v in env if v.startswith(("VOILA_", "EURALIS_LOGIN", "EURALIS_SESSION"))]:
        env.pop(variable)
    sortie = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval-lax", "-p", "no:cacheprovider", "-p", "no:xdist", "-q",
         "--rootdir", str(tmp_path), "-o", "addopts=", *map(str, carnets)],
        env=env, capture_output=True, text=True, cwd=tmp_path, timeout=900)
    assert sortie.returncode == 0, sortie.stdout[-4000:] + sortie.stderr[-2000:]
    assert re.search(rf"\b{cellules} passed\b", sortie.stdout), sortie.stdout[-2000:]
