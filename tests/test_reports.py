"""Weekly PDF reports (issue 23): the job prints a real PDF whose figures are the database's and whose charts are
drawn; who reads a report's row and downloads its file follows the user's rights; a failed render leaves nothing."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from euralis_lib import jobs
from euralis_lib.auth import acces
from euralis_lib.database import db
from euralis_lib.jobs import runs
from euralis_lib.presentation import formatting
from euralis_lib.reporting import archive
from euralis_lib.serving import serve
from tests.helpers import pdf
from tests.helpers.connexion import (
    Client,
    creer_utilisateur,
    engine_de,
    ouvrir_session,
    se_connecter,
    utilisateurs_de_test,
)
from tests.helpers.servers import copy_apps, voila_server

FIN = date(2026, 6, 28)  # a Sunday of the simulated data
DEBUT = FIN - timedelta(days=6)


def texte_pdf(chemin: Path) -> str:
    """The PDF file's text (:func:`tests.helpers.pdf.texte_pdf`)."""
    return pdf.texte_pdf(chemin.read_bytes())


@pytest.fixture(scope="module")
def base(pg_cluster, sim_template, tmp_path_factory) -> Iterator[dict]:
    """Simulated data, the weekly reports of every site and of the LL gaveur who asked for his (g1) archived by one
    run of the job, and users:
    adm, sup (all sites), sup-ll (LL only), g1 and g2 (two gaveurs of LL)."""
    dossier = tmp_path_factory.mktemp("reports")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EURALIS_REPORTS_DIR", str(dossier))
        name = pg_cluster.clone(sim_template)
        url = pg_cluster.url(name)
        owner = db.get_engine(url)
        with owner.connect() as conn:
            g1, g2 = conn.execute(sa.text(
                "SELECT l.gaveur_id FROM lots_gavage l JOIN abattages a USING (lot_id) WHERE l.site_code = 'LL' "
                "AND a.date_abattage BETWEEN :d0 AND :d1 GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 2"),
                {"d0": DEBUT, "d1": FIN}).scalars()
        with owner.begin() as conn:  # g1 asked for his own report; g2 did not
            conn.execute(sa.text("UPDATE gaveurs SET rapport_hebdo = (gaveur_id = :g)"), {"g": g1})
        role_job = db.url_en_role(url, jobs.get("rapport_hebdo").role_db)  # as the scheduler runs it
        site = jobs.run_job("rapport_hebdo", db.get_engine(role_job), publier=True, fin=FIN.isoformat())
        mdp = utilisateurs_de_test(url, g1, g2)
        mdp["sup-ll"] = creer_utilisateur(url, "sup-ll", "superviseur", sites=["LL"])
        yield {"url": url, "owner": owner, "g1": g1, "g2": g2, "dossier": dossier, "site": site,
               "mdp": mdp}
        owner.dispose()
        pg_cluster.drop(name)


def _rapports(base) -> dict[tuple[str, int | None], Path]:
    lignes = archive.lisibles(base["owner"])
    return {(r.site_code, None if r.gaveur_id != r.gaveur_id or r.gaveur_id is None else int(r.gaveur_id)):
            Path(r.fichier) for r in lignes.itertuples()}


def test_the_monday_run_archives_one_pdf_per_site_and_one_per_gaveur_who_asked(base):
    fichiers = _rapports(base)
    assert set(fichiers) == {("LL", None), ("LS", None), ("MT", None), ("LL", base["g1"])}
    for chemin in fichiers.values():
        assert chemin.is_file() and chemin.name.startswith("rapport") and chemin.read_bytes()[:5] == b"%PDF-"
        assert chemin.parent.parent == (base["dossier"] / "rapports").resolve()
    assert not list(base["dossier"].rglob("*.partiel")) and not list(base["dossier"].rglob(".*"))
    run = runs.get_run(base["owner"], base["site"]["run_id"])
    assert run.statut == "success" and len(base["site"]["rapports"]) == 4


def test_the_site_report_shows_the_kpis_computed_from_the_database_and_its_charts(base):
    with base["owner"].connect() as conn:
        q = {"d0": DEBUT, "d1": FIN}
        production = conn.execute(sa.text(
            "SELECT sum(a.poids_foie_total_kg) FROM abattages a JOIN lots_gavage l USING (lot_id) "
            "WHERE l.site_code = 'LL' AND a.date_abattage BETWEEN :d0 AND :d1"), q).scalar_one()
        actifs, gaveurs = conn.execute(sa.text(
            "SELECT count(*), count(DISTINCT gaveur_id) FROM lots_gavage "
            "WHERE site_code = 'LL' AND debut <= :d1 AND fin >= :d0"), q).one()
        abattus, itm = conn.execute(sa.text(
            "SELECT count(*), avg(a.itm) FROM abattages a JOIN lots_gavage l USING (lot_id) "
            "WHERE l.site_code = 'LL' AND a.date_abattage BETWEEN :d0 AND :d1"), q).one()
    assert production > 0 and actifs > 0 and abattus > 0
    fichier = _rapports(base)[("LL", None)]
    texte = texte_pdf(fichier)
    assert "Rapport hebdomadaire — site LL — semaine du 22/06/2026 au 28/06/2026" in texte
    attendus = {"Production totale (kg de foie)": formatting.nombre(production, 1, milliers=""),
                "Lots actifs": str(actifs), "Gaveurs actifs": str(gaveurs), "Lots abattus": str(abattus),
                "ITM moyen des lots abattus": formatting.nombre(itm, 2, milliers="")}
    for libelle, valeur in attendus.items():
        assert re.search(re.escape(f"{libelle} {valeur}") + r"(\s|$)", texte), (libelle, valeur, texte[:1500])
    # The charts' titles exist only inside the SVG plotly draws: they are in the PDF only if the charts were drawn.
    assert "Production de foie par site (kg par semaine)" in texte
    assert "Distribution de l'ITM des lots abattus par site et souche" in texte
    assert "Qualité des foies" in texte and "Plan d'abattage de la semaine prochaine" in texte


def test_the_gaveurs_report_is_about_him_only(base):
    with base["owner"].connect() as conn:
        noms = dict(conn.execute(sa.text("SELECT gaveur_id, nom FROM gaveurs WHERE gaveur_id IN (:a, :b)"),
                                 {"a": base["g1"], "b": base["g2"]}).all())
    texte = texte_pdf(_rapports(base)[("LL", base["g1"])])
    assert f"gaveur {noms[base['g1']]}" in texte
    assert noms[base["g2"]] not in texte  # another gaveur of his site is never named
    assert noms[base["g2"]] in texte_pdf(_rapports(base)[("LL", None)])  # control: the site's report names him


def test_rows_and_files_of_reports_follow_the_users_rights(base):
    fichiers = _rapports(base)
    g1 = base["g1"]
    attendus = {"adm": set(fichiers), "sup": set(fichiers), "sup-ll": {("LL", None), ("LL", g1)},
                "g1": {("LL", g1)}, "g2": set()}
    web = db.get_engine(acces.web_url(base["url"]))
    for login, lisibles in attendus.items():
        engine = engine_de(base["url"], login)
        lus = {(r.site_code, None if r.gaveur_id != r.gaveur_id else int(r.gaveur_id))
               for r in archive.lisibles(engine).itertuples()}
        assert lus == lisibles, login
        utilisateur = ouvrir_session(base["url"], login)[1]
        for cle, chemin in fichiers.items():
            assert acces.fichier_lisible(web, utilisateur, chemin) == (cle in lisibles), (login, cle)
        engine.dispose()
    # A file of the folder that is no report's row, and a report's path with a token of no open session.
    intrus = fichiers[("LL", None)].with_name("rapport-hebdo-LL-autre.pdf")
    assert not acces.fichier_lisible(web, ouvrir_session(base["url"], "adm")[1], intrus)
    assert not acces.fichier_lisible(web, acces.Utilisateur("adm", "admin", "0" * 64), fichiers[("LL", None)])
    web.dispose()


def test_a_failed_render_leaves_no_row_and_no_file(sim_db_url, tmp_path, monkeypatch):
    monkeypatch.setenv("EURALIS_REPORTS_DIR", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path / "vide"))  # no chromium to be found: the render fails
    engine = db.get_engine(sim_db_url)
    with pytest.raises(Exception, match="chromium is not installed"):
        jobs.run_job("rapport_hebdo", engine, fin=FIN.isoformat())
    assert db.read_df(engine, "SELECT count(*) AS n FROM rapports")["n"][0] == 0
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
    assert runs.latest_run(engine, "rapport_hebdo", statut="failed") is not None


@pytest.fixture(scope="module")
def serveur(base, tmp_path_factory) -> Iterator[dict]:
    """Voilà with login serving the Rapports page, on the module's database and reports folder."""
    home = tmp_path_factory.mktemp("home")
    env = {**os.environ, "EURALIS_DATABASE_URL": base["url"], "EURALIS_HOME": str(home),
           "EURALIS_REPORTS_DIR": str(base["dossier"])}
    env.pop("EURALIS_SESSION_SECRET", None)
    with voila_server(copy_apps(tmp_path_factory.mktemp("apps"), ["rapports"]), env, timeout=180) as port:
        yield {"port": port, "base": f"http://127.0.0.1:{port}"}


def test_the_reports_route_serves_a_pdf_only_to_users_who_read_its_row(base, serveur):
    fichiers = _rapports(base)
    intrus = fichiers[("LL", None)].with_name("rapport-hebdo-LL-intrus.pdf")  # in the folder, but no row
    intrus.write_bytes(b"%PDF-1.4 pas un rapport")
    g1 = base["g1"]
    lisibles = {"adm": set(fichiers), "sup": set(fichiers), "sup-ll": {("LL", None), ("LL", g1)},
                "g1": {("LL", g1)}, "g2": set()}
    racine = base["dossier"].resolve()
    page = {"Referer": f"{serveur['base']}/voila/render/rapports.ipynb"}
    for login, attendus in lisibles.items():
        client = Client(serveur["base"])
        assert client.login(login, base["mdp"][login])[0] == 302, login
        for cle, chemin in fichiers.items():
            statut, entetes, corps = client.get(f"/voila/rapports/{chemin.relative_to(racine).as_posix()}", page)
            assert statut == (200 if cle in attendus else 404), (login, cle, statut)
            assert (statut == 200) == corps.startswith("%PDF-"), (login, cle)
        assert client.get(f"/voila/rapports/{intrus.relative_to(racine).as_posix()}", page)[0] == 404, login
    assert Client(serveur["base"]).get(f"/voila/rapports/{fichiers[('LL', None)].relative_to(racine).as_posix()}",
                                       page)[0] in (302, 403, 404)  # anonymous: never the file


def test_the_rapports_page_lists_only_the_users_reports_with_working_links(base, serveur, browser):
    fichiers = _rapports(base)
    for login, attendus in (("g1", [fichiers[("LL", base["g1"])]]), ("adm", list(fichiers.values()))):
        contexte = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="fr-FR")
        try:
            onglet = contexte.new_page()
            se_connecter(onglet, serveur["port"], login, base["mdp"][login])
            onglet.goto(serve.url(serveur["port"], page="rapports"), wait_until="domcontentloaded", timeout=180_000)
            onglet.wait_for_selector("a.euralis-rapport", timeout=180_000)
            liens = onglet.eval_on_selector_all("a.euralis-rapport", "as => as.map(a => a.href)")
            assert sorted(Path(h).name for h in liens) == sorted(f.name for f in attendus), login
            entetes = {"Referer": onglet.url}  # as the link clicked in the page sends it
            reponse = contexte.request.get(liens[0], headers=entetes)
            assert reponse.status == 200 and reponse.body()[:5] == b"%PDF-", login
            if login == "g1":  # the site's report, asked for by its address: refused like a missing file
                autre = liens[0].rsplit("/", 1)[0] + "/" + fichiers[("LL", None)].name
                assert contexte.request.get(autre, headers=entetes).status == 404
                # He subscribes to the reports by e-mail from the page: his own row, nobody else's.
                onglet.fill(".euralis-abonnement-courriel input", "pas une adresse")
                onglet.check(".euralis-abonnement-hebdo input[type=checkbox]")
                onglet.click("button.euralis-abonnement-enregistrer")
                onglet.wait_for_selector(".euralis-abonnement-etat >> text=n'est pas une adresse", timeout=60_000)
                onglet.fill(".euralis-abonnement-courriel input", "g1@exemple.fr")
                onglet.click("button.euralis-abonnement-enregistrer")
                onglet.wait_for_selector(".euralis-abonnement-etat >> text=envoyés à g1@exemple.fr", timeout=60_000)
                with base["owner"].connect() as conn:
                    assert conn.execute(sa.text("SELECT login, courriel, hebdo FROM rapports_abonnements")).all() == [
                        ("g1", "g1@exemple.fr", True)]
        finally:
            contexte.close()
