import functools
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from euralis_lib.database import db, queries
from tests.helpers.once import computed_in_parts


def test_shared_sim_database_holds_three_sites(shared_sim_url):
    assert list(queries.sites(db.get_engine(shared_sim_url))["site_code"]) == ["LL", "LS", "MT"]


def test_cloned_databases_are_isolated(sim_db_url, empty_db_url):
    import sqlalchemy as sa

    with db.connect(db.get_engine(sim_db_url), transaction=True) as conn:
        conn.execute(sa.text("DELETE FROM alertes"))
    assert db.read_df(db.get_engine(empty_db_url), "SELECT count(*) AS n FROM lots_gavage")["n"][0] == 0


def test_under_ci_a_skipped_test_fails_and_names_why(tmp_path):
    """``.ci/run`` sets EURALIS_SKIP_IS_FAILURE=1: a test skipped because something is missing fails CI; an xfail
    stays an xfail. Run in a pytest of its own on a throw-away test file (control: without the variable, a skip)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    (tmp_path / "test_manque.py").write_text(
        "import pytest\n\n"
        "def test_outil():\n    pytest.skip('outil absent')\n\n"
        "@pytest.mark.xfail(reason='connu')\ndef test_connu():\n    assert False\n")
    racine = Path(__file__).resolve().parents[1]

    def pytest_seul(valeur: str) -> subprocess.CompletedProcess:
        env = {**os.environ, "PYTHONPATH": str(racine), "EURALIS_SKIP_IS_FAILURE": valeur}
        return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p",
                               "tests.helpers.no_skip", "--rootdir", str(tmp_path), "-c", os.devnull,
                               str(tmp_path / "test_manque.py")], env=env, cwd=tmp_path, capture_output=True,
                              text=True, timeout=120)

    ci = pytest_seul("1")
    assert ci.returncode == 1 and "1 failed, 1 xfailed" in ci.stdout, ci.stdout
    assert "skipped under EURALIS_SKIP_IS_FAILURE=1" in ci.stdout and "outil absent" in ci.stdout
    poste = pytest_seul("")
    assert poste.returncode == 0 and "1 skipped, 1 xfailed" in poste.stdout, poste.stdout


def test_two_workers_asking_at_once_share_the_parts_and_each_part_is_computed_once(tmp_path_factory):
    name = f"parts-{uuid.uuid4().hex}"
    computed: list[tuple[str, int]] = []

    def part(i: int, worker: str) -> int:
        computed.append((worker, i))
        time.sleep(0.2)
        return i * i

    def ask(worker: str) -> list[int]:
        parts = [functools.partial(part, i, worker) for i in range(6)]
        return computed_in_parts(name, parts, tmp_path_factory, worker)

    with ThreadPoolExecutor(max_workers=2) as pool:
        first, second = pool.map(ask, ["gw0", "gw1"])
    assert first == second == [i * i for i in range(6)]
    assert sorted(i for _, i in computed) == list(range(6)), "a part was computed twice or never"
    assert {w for w, _ in computed} == {"gw0", "gw1"}, "one worker waited while the other computed everything"
