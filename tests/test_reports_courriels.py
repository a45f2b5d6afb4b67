"""Weekly reports by e-mail (issue 23): after the job archives its PDFs, each subscribed user receives, from a real
local SMTP server's point of view, exactly the reports whose row he reads (the Rapports page's rule), the PDF
attached; never twice; nothing without EURALIS_SMTP_URL; a refused address or a server down is recorded and
leaves the reports and the other recipients alone."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from pypdf import PdfReader

from euralis_lib import jobs
from euralis_lib.alerts.courriels import SMTP_ENV
from euralis_lib.database import db
from euralis_lib.jobs import runs
from euralis_lib.reporting import archive, courriels
from euralis_lib.serving.browser import free_port
from tests.helpers.connexion import creer_utilisateur, engine_de
from tests.helpers.databases import module_database
from tests.helpers.smtp import Boite, serveur_smtp

FIN = date(2026, 6, 28)  # a Sunday of the simulated data
ABONNES = ("adm", "adm-refuse", "sup-ll", "sup-mt", "g1", "g2", "g-mt")


def _envois(owner) -> list[tuple[int, str, bool]]:
    with owner.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(
            "SELECT rapport_id, login, ok FROM rapports_envois ORDER BY envoi_id")).all()]


@pytest.fixture(scope="module")
def base(pg_cluster, sim_template, tmp_path_factory) -> Iterator[dict]:
    """Simulated data; users of each kind, all subscribed (``sup`` with the weekly reports turned off); the job run
    once for LL's gaveur g1 without SMTP, then for the whole of LL with a real SMTP server that refuses
    ``adm-refuse``'s address."""
    dossier = tmp_path_factory.mktemp("reports")
    with pytest.MonkeyPatch.context() as mp, module_database(pg_cluster, sim_template) as clone:
        mp.setenv("EURALIS_REPORTS_DIR", str(dossier))
        mp.delenv(SMTP_ENV, raising=False)
        url, owner = clone.url, clone.owner
        premiers = ("SELECT l.gaveur_id FROM lots_gavage l JOIN abattages a USING (lot_id) WHERE l.site_code = :s "
                    "AND a.date_abattage BETWEEN :fin - 6 AND :fin GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 2")
        (g1,), (g2,) = clone.rows(premiers, s="LL", fin=FIN)
        g_mt = clone.rows(premiers, s="MT", fin=FIN)[0][0]
        for login, role, extra in (("adm", "admin", {}), ("adm-refuse", "admin", {}), ("sup", "superviseur", {}),
                                   ("sup-ll", "superviseur", {"sites": ["LL"]}),
                                   ("sup-mt", "superviseur", {"sites": ["MT"]}), ("g1", "gaveur", {"gaveur_id": g1}),
                                   ("g2", "gaveur", {"gaveur_id": g2}), ("g-mt", "gaveur", {"gaveur_id": g_mt})):
            creer_utilisateur(url, login, role, **extra)
        moteurs = {login: engine_de(url, login) for login in (*ABONNES, "sup")}
        for login in ABONNES:  # each subscribes himself, as from the Rapports page
            courriels.abonner(moteurs[login], f"{login}@exemple.fr")
        courriels.abonner(moteurs["sup"], "sup@exemple.fr", hebdo=False)
        job = db.get_engine(db.url_en_role(url, jobs.get("rapport_hebdo").role_db))  # as the scheduler runs it
        sans_smtp = jobs.run_job("rapport_hebdo", job, publier=True, site="LL", fin=FIN.isoformat(), gaveur_id=g1)
        envois_sans_smtp = _envois(owner)
        boite = Boite(refusees=("adm-refuse@exemple.fr",))
        with serveur_smtp(boite) as (_, port):
            mp.setenv(SMTP_ENV, f"smtp://127.0.0.1:{port}?from=rapports@euralis.fr")
            semaine = jobs.run_job("rapport_hebdo", job, publier=True, site="LL", fin=FIN.isoformat())
            apres_semaine = len(boite.recus)
            relance = jobs.run_job("rapport_hebdo", job, publier=True, site="LL", fin=FIN.isoformat(), gaveur_id=g1)
            envois_avant_essai = len(_envois(owner))
            essai = jobs.run_job("rapport_hebdo", job, site="LL", fin=FIN.isoformat(), gaveur_id=g1)  # exploratory
            apres_essai = len(boite.recus)
        yield {"url": url, "owner": owner, "g1": g1, "g2": g2, "moteurs": moteurs, "boite": boite,
               "sans_smtp": sans_smtp, "envois_sans_smtp": envois_sans_smtp, "semaine": semaine,
               "apres_semaine": apres_semaine, "relance": relance, "essai": essai, "apres_essai": apres_essai,
               "envois_avant_essai": envois_avant_essai}
        for moteur in [job, *moteurs.values()]:
            moteur.dispose()


def _recus(base) -> dict[str, set[int]]:
    """Per login, the reports received (through the attachment's file name), from the SMTP server's side."""
    par_nom = {Path(r.fichier).name: int(r.rapport_id) for r in archive.lisibles(base["owner"]).itertuples()}
    recus: dict[str, set[int]] = {}
    for message in base["boite"].messages():
        (piece,) = list(message.iter_attachments())
        recus.setdefault(message["To"].split("@")[0], set()).add(par_nom[piece.get_filename()])
    return recus


def test_without_smtp_the_job_archives_and_says_nothing_was_sent(base):
    texte = base["sans_smtp"]["courriels"]
    assert texte == "EURALIS_SMTP_URL n'est pas configurée : aucun rapport envoyé par courriel."
    assert base["envois_sans_smtp"] == [] and len(base["sans_smtp"]["rapports"]) == 1
    assert runs.get_run(base["owner"], base["sans_smtp"]["run_id"]).statut == "success"


def test_each_subscriber_receives_exactly_the_reports_whose_row_he_reads(base):
    semaine = set(base["semaine"]["rapports"])
    lignes = {int(r.rapport_id): r for r in archive.lisibles(base["owner"]).itertuples()}
    site_ll = {i for i in semaine if lignes[i].gaveur_id != lignes[i].gaveur_id}  # NaN: the site's report
    (du_g1,) = {i for i in semaine if lignes[i].gaveur_id == base["g1"]}
    (du_g2,) = {i for i in semaine if lignes[i].gaveur_id == base["g2"]}
    assert len(semaine) == 3 and len(site_ll) == 1  # subscribed gaveurs of LL got their own report made
    recus = _recus(base)
    assert recus == {"adm": semaine, "sup-ll": semaine, "g1": {du_g1}, "g2": {du_g2}}
    # The same rule as the Rapports page: what each one reads under row-level security, for the subscribers
    # who were not refused (a supervisor of MT and a gaveur of MT read none of LL's reports).
    for login in ("adm", "sup-ll", "sup-mt", "g1", "g2", "g-mt"):
        lisibles = {int(i) for i in archive.lisibles(base["moteurs"][login])["rapport_id"]} & semaine
        assert recus.get(login, set()) == lisibles, login
    assert "sup" not in recus  # subscribed with the weekly reports turned off


def test_the_email_is_french_and_carries_the_real_pdf(base):
    lignes = {Path(r.fichier).name: r for r in archive.lisibles(base["owner"]).itertuples()}
    (message,) = [m for m in base["boite"].messages() if m["To"] == "g1@exemple.fr"]
    (piece,) = list(message.iter_attachments())
    ligne = lignes[piece.get_filename()]
    contenu = piece.get_content()  # (the archived file was printed again since, by the re-run)
    assert contenu[:5] == b"%PDF-"
    premiere = PdfReader(io.BytesIO(contenu)).pages[0].extract_text()
    assert f"Rapport hebdomadaire — site LL — gaveur {ligne.gaveur}" in " ".join(premiere.split())
    assert piece.get_content_type() == "application/pdf"
    assert message["From"] == "rapports@euralis.fr"
    assert message["Subject"] == (f"[Euralis] Rapport hebdomadaire – site LL, gaveur {ligne.gaveur} – "
                                  "semaine du 22/06/2026 au 28/06/2026")
    corps = message.get_body(("plain",)).get_content()
    assert "rapport hebdomadaire (site LL" in corps and "semaine du 22/06/2026 au 28/06/2026" in corps


def test_a_rerun_sends_nothing_new_and_a_refused_address_is_recorded_without_stopping_the_others(base):
    assert len(base["boite"].recus) == base["apres_semaine"] == 8  # adm 3, sup-ll 3, g1 1, g2 1
    assert base["relance"]["courriels"].startswith("Rapports envoyés par courriel : 0 ; échecs : 1.")
    assert "adm-refuse" in base["relance"]["courriels"]  # retried (not sent before), refused again
    assert base["semaine"]["courriels"].startswith("Rapports envoyés par courriel : 8 ; échecs : 3.")
    envois = _envois(base["owner"])
    assert sorted((login, ok) for _, login, ok in envois if not ok) == [("adm-refuse", False)] * 4
    assert len([e for e in envois if e[2]]) == 8 and len({(r, lg) for r, lg, ok in envois if ok}) == 8
    with base["owner"].connect() as conn:
        erreur = conn.execute(sa.text("SELECT erreur FROM rapports_envois WHERE NOT ok LIMIT 1")).scalar_one()
    assert "unknown mailbox" in erreur


def test_an_exploratory_run_archives_and_e_mails_nobody(base):
    assert base["essai"]["rapports"] and base["apres_essai"] == len(base["boite"].recus) == base["apres_semaine"]
    assert base["essai"]["courriels"] == "Run exploratoire : rapports archivés, aucun courriel envoyé."
    assert len(_envois(base["owner"])) == base["envois_avant_essai"]  # not even tried (a refused one is recorded)


def test_a_server_down_is_recorded_and_the_reports_stay(base):
    ids = base["semaine"]["rapports"]
    avant = {Path(f): Path(f).read_bytes() for f in base["semaine"]["fichiers"]}
    port = free_port()  # nothing listens there
    bilan = courriels.envoyer(base["owner"], ids, smtp_url=f"smtp://127.0.0.1:{port}")
    assert bilan.configure and bilan.envoyes == 0 and len(bilan.echecs) == 3  # adm-refuse's three, still due
    assert {login for login, _, _ in bilan.echecs} == {"adm-refuse"}
    assert all("ConnectionRefusedError" in erreur for _, _, erreur in bilan.echecs)
    assert "échecs : 3" in bilan.texte()
    assert {f: f.read_bytes() for f in avant} == avant
    assert {int(i) for i in archive.lisibles(base["owner"])["rapport_id"]} >= set(ids)
    with base["owner"].connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM rapports_envois WHERE NOT ok")).scalar_one() == 7


def test_a_user_manages_only_his_own_subscription(base):
    g1 = base["moteurs"]["g1"]
    assert courriels.abonnement(g1) == courriels.Abonnement("g1@exemple.fr", True)
    courriels.abonner(g1, " g1.nouveau@exemple.fr ", hebdo=False)
    assert courriels.abonnement(g1) == courriels.Abonnement("g1.nouveau@exemple.fr", False)
    with pytest.raises(courriels.SubscriptionError, match="n'est pas une adresse"):
        courriels.abonner(g1, "pas une adresse")
    with g1.begin() as conn:  # another user's row: neither read nor written
        assert conn.execute(sa.text("SELECT login FROM rapports_abonnements")).scalars().all() == ["g1"]
        assert conn.execute(sa.text("UPDATE rapports_abonnements SET hebdo = false WHERE login = 'g2'")).rowcount == 0
        conn.execute(sa.text("INSERT INTO rapports_abonnements (login, courriel) VALUES ('g2', 'pirate@exemple.fr') "
                             "ON CONFLICT (login) DO UPDATE SET courriel = EXCLUDED.courriel"))
        assert conn.execute(sa.text("SELECT login, courriel FROM rapports_abonnements")).all() == [
            ("g1", "pirate@exemple.fr")]  # the row written is credited to g1 (trigger), never g2's
        assert {r for (r,) in conn.execute(sa.text("SELECT DISTINCT login FROM rapports_envois"))} == {"g1"}
    with base["owner"].connect() as conn:
        assert conn.execute(sa.text("SELECT courriel, hebdo FROM rapports_abonnements WHERE login = 'g2'")).one() == (
            "g2@exemple.fr", True)
