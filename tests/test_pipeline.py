"""The papermill runner: reports, run rows, failures that keep evidence and earlier results."""

import pytest
import sqlalchemy as sa

from euralis_lib import jobs
from euralis_lib.config import PROJECT_ROOT
from euralis_lib.database import db
from euralis_lib.jobs import JobParameterError, pipeline, results, runs

pytestmark = pytest.mark.notebook
FAILING = PROJECT_ROOT / "tests" / "data" / "echec.ipynb"


@pytest.fixture
def env(sim_db_url, tmp_path, monkeypatch):
    monkeypatch.setenv("EURALIS_DATABASE_URL", sim_db_url)
    monkeypatch.setenv("EURALIS_REPORTS_DIR", str(tmp_path))
    return db.get_engine(sim_db_url), tmp_path


def test_all_job_notebooks_run_with_defaults_and_fill_every_result_table(env):
    engine, reports = env
    done = pipeline.run_pipeline(engine=engine, parameters={"previsions": {"nb_origines": 2}})
    assert [r.job for r in done] == list(jobs.JOBS) and all(r.statut == "success" for r in done)
    assert all(r.etape == "publie" for r in done)  # the pipeline publishes: pages show its runs
    for run in done:
        report = reports / run.debut.date().isoformat() / f"{run.job}-{run.run_id}.ipynb"
        assert run.rapport_path == str(report) and report.exists()
        html = report.with_suffix(".html").read_text()
        assert "plotly.min.js" in html and "import " not in html, run.job
    for reader in (results.formules, results.previsions, results.clusters, results.anomalies, results.planning,
                   results.finance):
        assert not reader(engine).empty, reader.__name__
    # Each notebook wrote as its job's role (sql/110_roles.sql), the backup as the owner (pg_dump).
    ids = {r.run_id: r.job for r in done}
    roles = dict(db.read_df(engine, "SELECT run_id, role_db FROM job_runs WHERE run_id = ANY(:ids)",
                            {"ids": list(ids)}).itertuples(index=False))
    proprietaire = engine.url.username
    assert {ids[i]: r for i, r in roles.items()} == {
        job: (jobs.JOBS[job].role_db or proprietaire) for job in ids.values()}


def test_job_notebooks_accept_non_default_parameters(env):
    engine, _ = env
    run = pipeline.execute_job("clustering", {"sites": ["LL", "MT"], "k_max": 4}, engine=engine, progress=False)
    assert run.parametres["sites"] == ["LL", "MT"] and run.parametres["k_max"] == 4 and run.metriques["k"] <= 4
    assert run.parametres["k_min"] == jobs.get("clustering").parametres()["k_min"].defaut  # defaults recorded too
    assert run.etape == "exploratoire" and results.clusters(engine).run is None  # other parameters: not published
    sites = results.clusters(engine, run.run_id).data["site_code"]
    assert set(sites) == {"LL", "MT"}
    plan = pipeline.execute_job("planning", {"debut": "2025-11-03", "fin": "2025-11-09", "sites": ["MT"]},
                                engine=engine, progress=False)
    assert plan.metriques["debut"] == "2025-11-03" and plan.statut == "success"
    fc = pipeline.execute_job("previsions", {"horizons": [7], "nb_origines": 2, "sites": ["LS"]}, engine=engine,
                              progress=False)
    assert set(results.previsions(engine, fc.run_id).data["horizon_jours"]) == {7}


def test_a_failing_notebook_marks_the_run_failed_and_keeps_the_evidence(env):
    engine, _ = env
    ok = pipeline.execute_notebook("test_echec", FAILING, {"echec": False}, engine=engine, progress=False,
                                   publier=True)  # published: what pages show while later runs fail
    assert ok.statut == "success"
    with pytest.raises(pipeline.JobFailedError, match="panne simulée") as info:
        pipeline.execute_notebook("test_echec", FAILING, {"echec": True}, engine=engine, progress=False)
    failed = info.value.run
    assert failed.statut == "failed" and "RuntimeError: panne simulée du job" in failed.erreur
    assert "panne simulée" in open(failed.rapport_path).read()
    assert runs.latest_run(engine, "test_echec").run_id == ok.run_id
    with engine.connect() as conn:  # a run started by hand raises the admins' alert as a scheduled one does
        alerte = conn.execute(sa.text("SELECT * FROM alertes WHERE type = 'job_echec' AND run_id = :r"),
                              {"r": failed.run_id}).one()
    assert alerte.severite == "critique" and alerte.site_code is None
    assert "Le job test_echec (lancé à la main) a échoué après 1 tentative(s)" in alerte.message


def test_wrong_parameter_type_is_refused_before_any_run_row(env):
    engine, _ = env
    with pytest.raises(JobParameterError, match="'k_max' must be int"):
        pipeline.execute_job("clustering", {"k_max": "cinq"}, engine=engine)
    with pytest.raises(JobParameterError, match="has no parameter 'kmax'"):
        pipeline.execute_job("clustering", {"kmax": 5}, engine=engine)
    with pytest.raises(JobParameterError, match="unknown job"):
        pipeline.execute_job("meteo", engine=engine)
    assert db.read_df(engine, "SELECT count(*) AS n FROM job_runs")["n"][0] == 0


def test_a_notebook_run_by_hand_is_exploratory_until_an_admin_promotes_it(env, capsys):
    """Issue 24: papermill on a job notebook with other parameters stores an exploratory run that pages never
    show; an admin promotes it (Ops page, command line), audited, and rolls back to the run published before."""
    import papermill

    from euralis_lib import cli
    from euralis_lib.auth.acces import Utilisateur
    from euralis_lib.dashboards import ops as ops_page
    from euralis_lib.dashboards.common import Contexte
    from euralis_lib.operations import ops
    from tests.helpers.pages import page_text

    engine, reports = env
    publie = jobs.run_job("clustering", engine)["run_id"]  # default parameters: published
    notebook = jobs.get("clustering").notebook
    papermill.execute_notebook(str(notebook), str(reports / "exploration.ipynb"), kernel_name="python3",
                               progress_bar=False, cwd=str(notebook.parent),
                               parameters={"sites": ["LL"], "database_url": engine.url.render_as_string(False)})
    explore = runs.get_run(engine, int(db.read_df(engine, "SELECT max(run_id) AS r FROM job_runs")["r"][0]))
    assert (explore.statut, explore.etape, explore.parametres["sites"]) == ("success", "exploratoire", ["LL"])
    lu = results.clusters(engine)
    assert lu.run.run_id == publie and set(lu.data["site_code"]) != {"LL"}  # pages still show the published run
    assert lu.source().endswith(", lancé à la main")
    assert "exploratoire" in results.clusters(engine, explore.run_id).source()  # still viewable by its number

    # A supervisor's Ops page shows the stages and no control; an admin's publishes the chosen run.
    recents = ops.recent_runs(engine)
    superviseur = Contexte(engine, None, lambda: None, Utilisateur("sup", "superviseur"))
    assert "Seul un administrateur publie" in page_text(ops_page.publication(superviseur, recents))
    assert not [b for b in ops_page.publication(superviseur, recents) if isinstance(b, ops_page.w.HBox)]
    admin = ops_page.publication(Contexte(engine, None, lambda: None), recents)
    [(choix, publier)] = [b.children for b in admin if isinstance(b, ops_page.w.HBox) and
                          "euralis-publier-run" in b.children[1]._dom_classes]
    assert [v for _, v in choix.options] == [explore.run_id] and "sites = LL" in choix.options[0][0]
    publier.click()
    assert "publié : les pages le montrent" in admin[-1].value
    lu = results.clusters(engine)
    assert lu.run.run_id == explore.run_id and set(lu.data["site_code"]) == {"LL"}
    assert f"promu par {engine.url.username} le " in lu.source()
    assert "publié, affiché par les pages" in page_text(ops_page.build(Contexte(engine, None, lambda: None)))

    # The command line: list, rollback, promote again, rollback until there is nothing before.
    assert cli.main(["runs", "list", "--job", "clustering"]) == 0
    assert "affiche" in capsys.readouterr().out
    assert cli.main(["runs", "rollback", "clustering"]) == 0
    assert f"back to run {publie}" in capsys.readouterr().out
    assert runs.latest_run(engine, "clustering").run_id == publie
    assert runs.get_run(engine, explore.run_id).etape == "retire"
    assert cli.main(["runs", "promote", str(explore.run_id)]) == 0
    assert f"before: run {publie}" in capsys.readouterr().out
    assert runs.latest_run(engine, "clustering").run_id == explore.run_id
    with pytest.raises(runs.PublicationError, match="déjà celui que les pages montrent"):
        runs.promote(engine, explore.run_id)
    assert cli.main(["runs", "rollback", "clustering"]) == 0
    assert cli.main(["runs", "rollback", "clustering"]) == 2  # nothing published before it
    assert "n'a pas de run publié précédent" in capsys.readouterr().err
    audit = db.read_df(engine, "SELECT action, run_avant, run_apres, par FROM job_runs_publications "
                               "WHERE job = 'clustering' ORDER BY publication_id")
    aller, retour = [publie, explore.run_id], [explore.run_id, publie]
    assert audit.values.tolist() == [[a, *r, engine.url.username] for a, r in (
        ("promotion", aller), ("retour", retour), ("promotion", aller), ("retour", retour))]
