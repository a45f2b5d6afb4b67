"""The daily alert digest by e-mail (issue 22, sql/195, euralis_lib.alerts.courriels): each opted-in active user
gets once per Paris day the alerts he reads raised since his last digest — an admin all of them, a supervisor
limited to a site that site's, a gaveur his own lots' only —, through a real aiosmtpd server; nothing without
SMTP settings, without opt-in or without an alert; users opt in from the Alertes page as themselves."""

from __future__ import annotations

import email
import email.policy
import html
import os
import re
import subprocess
import sys
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from euralis_lib import config
from euralis_lib.alerts import courriels, inbox
from tests.helpers.connexion import engine_de, ouvrir_session
from tests.helpers.roles import roles_base  # noqa: F401  (the fixture « base »)
from tests.helpers.smtp import serveur_smtp

REPERE = re.compile(r"repère-[a-z0-9-]+")
ABONNES = ("adm", "sup-site", "g1", "g2")  # opted in to the digest; « sup » to immediate e-mails only


@pytest.fixture(scope="module")
def resumes(request):
    """test_roles_sql's database and users; adm, sup-site, g1, g2 and the disabled g1-off opted in to the digest,
    sup to immediate e-mails only; a third gaveur of g1's site (sup-site reads his alerts, g1 does not)."""
    base = request.getfixturevalue("base")
    moteurs = {login: engine_de(base["url"], login) for login in (*ABONNES, "sup")}
    for login in ABONNES:
        courriels.abonner(moteurs[login], f"{login}@exemple.fr", critique_immediat=False, resume_quotidien=True)
    courriels.abonner(moteurs["sup"], "sup@exemple.fr")
    with base["owner"].begin() as conn:  # a disabled user cannot log in: his row as the owner writes it
        conn.execute(sa.text("INSERT INTO alertes_abonnements (login, courriel, critique_immediat, resume_quotidien, "
                             "resume_depuis_alerte) SELECT 'g1-off', 'g1-off@exemple.fr', false, true, max(alerte_id) "
                             "FROM alertes"))
        g3 = conn.execute(sa.text("SELECT min(gaveur_id) FROM lots_gavage WHERE site_code = :s AND gaveur_id <> :g"),
                          {"s": base["site"], "g": base["g1"]}).scalar_one()
    yield {**base, "g3": g3, "moteurs": moteurs}
    for moteur in moteurs.values():
        moteur.dispose()


def _lever(owner, gaveur: int | None, severite: str, repere: str, message: str = "") -> tuple[int, str | None]:
    """An alert on a lot of ``gaveur`` (None: a workbench alert, no site), its message carrying ``repere``; its id
    and the lot's code."""
    with owner.begin() as conn:
        lot = conn.execute(sa.text("SELECT lot_id, code_lot, site_code FROM lots_gavage WHERE gaveur_id = :g "
                                   "ORDER BY lot_id LIMIT 1"), {"g": gaveur}).one_or_none()
        alerte = conn.execute(sa.text(
            "INSERT INTO alertes (horodatage, site_code, gaveur_id, lot_id, type, severite, message, source, "
            "cle_dedup) VALUES (now(), :s, :g, :l, 'test', :sev, :m, 'test', :r) RETURNING alerte_id"),
            {"s": lot.site_code if lot else None, "g": gaveur, "l": lot.lot_id if lot else None, "sev": severite,
             "m": f"{repere} {message}".strip(), "r": repere}).scalar_one()
    return alerte, lot.code_lot if lot else None


def _boites(boite) -> dict[str, email.message.EmailMessage]:
    """The messages received, by recipient (one each, or the test fails)."""
    recus: dict[str, email.message.EmailMessage] = {}
    for destinataires, texte in boite.recus:
        assert len(destinataires) == 1 and destinataires[0] not in recus, destinataires
        recus[destinataires[0]] = email.message_from_string(texte, policy=email.policy.default)
    return recus


def _texte(message) -> str:
    return message.get_body(("plain",)).get_content()


def test_each_subscribed_user_gets_once_a_day_exactly_the_alerts_he_reads(resumes, monkeypatch):
    owner, g1, g2, g3 = resumes["owner"], resumes["g1"], resumes["g2"], resumes["g3"]
    a_g1, lot_g1 = _lever(owner, g1, "critique", "repère-g1", "Mortalité <b>9 %</b> & plus")
    _, lot_g2 = _lever(owner, g2, "attention", "repère-g2")
    _lever(owner, g3, "info", "repère-g3")
    _lever(owner, None, "critique", "repère-ops", "Le job x a échoué")
    assert lot_g1 and lot_g2 and lot_g1 != lot_g2
    inbox.marquer_lues(resumes["moteurs"]["g1"], [a_g1])  # read by g1, not by the admin
    attendus = {"adm@exemple.fr": {"repère-g1", "repère-g2", "repère-g3", "repère-ops"},
                "sup-site@exemple.fr": {"repère-g1", "repère-g3"},
                "g1@exemple.fr": {"repère-g1"}, "g2@exemple.fr": {"repère-g2"}}
    with serveur_smtp() as (boite, port):
        smtp_url = f"smtp://127.0.0.1:{port}?from=alertes@euralis.fr"
        # From the command line, as an operator would (the pipeline's database URL, today's Paris day).
        env = {**os.environ, "EURALIS_DATABASE_URL": resumes["url"], courriels.SMTP_ENV: smtp_url,
               "PYTHONPATH": str(config.PROJECT_ROOT)}
        fait = subprocess.run([sys.executable, "-m", "euralis_lib.alerts.courriels", "--resume"], env=env,
                              capture_output=True, text=True, timeout=120, cwd=config.PROJECT_ROOT)
        assert fait.returncode == 0 and "alert digests sent: 4" in fait.stdout, fait.stdout + fait.stderr
        recus = _boites(boite)
        # Once a day: a second run the same day sends nothing, even with a new alert.
        _lever(owner, g1, "critique", "repère-g1-bis")
        monkeypatch.setenv(courriels.SMTP_ENV, smtp_url)
        assert courriels.envoyer_resumes(owner) == 0 and len(boite.recus) == 4
    # Neither sup (immediate e-mails only) nor the disabled g1-off: exactly the four opted-in active users.
    assert {adresse: set(REPERE.findall(_texte(m))) for adresse, m in recus.items()} == attendus
    texte_g1, texte_adm = _texte(recus["g1@exemple.fr"]), _texte(recus["adm@exemple.fr"])
    assert f"lot {lot_g1}" in texte_g1 and lot_g2 not in texte_g1  # another gaveur's lot never shows
    assert f"lot {lot_g2}" in _texte(recus["g2@exemple.fr"]) and lot_g1 not in _texte(recus["g2@exemple.fr"])
    # French, grouped by severity then site with counts, per-user read state.
    jour = courriels.paris_day()
    assert recus["adm@exemple.fr"]["Subject"] == (f"[Euralis] Résumé des alertes du {jour:%d/%m/%Y} – 4 alerte(s), "
                                                 "dont 2 critique(s)")
    assert recus["adm@exemple.fr"]["From"] == "alertes@euralis.fr"
    critique = texte_adm.index("== Critique : 2 ==")
    assert critique < texte_adm.index("== Attention : 1 ==") < texte_adm.index("== Info : 1 ==")
    assert texte_adm.index(f"Site {resumes['site']} : 1", critique) < texte_adm.index(courriels.SANS_SITE + " : 1")
    assert "Mortalité <b>9 %</b> & plus (non lue)" in texte_adm and "Mortalité <b>9 %</b> & plus (lue)" in texte_g1
    assert courriels.SANS_SITE not in texte_g1 and "Le job x" not in _texte(recus["sup-site@exemple.fr"])
    # The HTML part escapes the alert's text.
    html_g1 = recus["g1@exemple.fr"].get_body(("html",)).get_content()
    assert "Mortalité &lt;b&gt;9 %&lt;/b&gt; &amp; plus" in html_g1 and "<b>9" not in html_g1
    with owner.connect() as conn:
        envoyes = dict(conn.execute(sa.text("SELECT login, nb_alertes FROM alertes_resumes WHERE jour = :j"),
                                    {"j": jour}).all())
    assert envoyes == {"adm": 4, "sup-site": 2, "g1": 1, "g2": 1}


def test_no_digest_without_smtp_settings_nor_without_a_new_alert_and_the_next_one_starts_after_it(resumes,
                                                                                                 monkeypatch):
    owner, g2 = resumes["owner"], resumes["g2"]
    jour = date(2031, 3, 3)  # days of their own: the other test's digest is today's
    with serveur_smtp() as (boite, port):
        courriels.envoyer_resumes(owner, f"smtp://127.0.0.1:{port}", jour - timedelta(days=1))  # what is pending
        boite.recus.clear()
        _lever(owner, g2, "attention", "repère-a")
        monkeypatch.delenv(courriels.SMTP_ENV, raising=False)
        assert courriels.envoyer_resumes(owner, jour=jour) == 0 and boite.recus == []  # not configured
        with owner.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM alertes_resumes WHERE jour = :j"),
                                {"j": jour}).scalar() == 0
        monkeypatch.setenv(courriels.SMTP_ENV, f"smtp://127.0.0.1:{port}")
        assert courriels.envoyer_resumes(owner, jour=jour) == 2  # adm and g2 read it; g1, sup-site do not
        premier = _boites(boite)
        assert set(premier) == {"adm@exemple.fr", "g2@exemple.fr"}
        _lever(owner, g2, "critique", "repère-b")
        assert courriels.envoyer_resumes(owner, jour=jour) == 0  # once per day
        boite.recus.clear()
        assert courriels.envoyer_resumes(owner, jour=jour + timedelta(days=1)) == 2
        second = _boites(boite)
        boite.recus.clear()
        assert courriels.envoyer_resumes(owner, jour=jour + timedelta(days=2)) == 0 and boite.recus == []  # no alert
    assert {a: set(REPERE.findall(_texte(m))) for a, m in premier.items()} == {
        "adm@exemple.fr": {"repère-a"}, "g2@exemple.fr": {"repère-a"}}
    assert {a: set(REPERE.findall(_texte(m))) for a, m in second.items()} == {
        "adm@exemple.fr": {"repère-b"}, "g2@exemple.fr": {"repère-b"}}  # since the last digest only


def test_a_user_opts_in_to_the_digest_from_the_alert_page_as_himself(resumes):
    from euralis_lib.dashboards import alertes as page_alertes
    from euralis_lib.dashboards import common, page_spec

    moteur = resumes["moteurs"]["sup"]
    _, utilisateur = ouvrir_session(resumes["url"], "sup")
    page = common.Page(page_spec("alertes"), page_alertes.build, page_alertes.FILTERS, engine=moteur,
                       utilisateur=utilisateur)
    assert "Courriels" in common.instantane(page.contenu)
    section = page_alertes.section_courriels(common.Contexte(moteur, None, lambda: None, utilisateur))
    champs = {c: w for w in [*section, *section[3].children] for c in getattr(w, "_dom_classes", ())}
    assert champs["euralis-alertes-courriel"].value == "sup@exemple.fr"  # his current subscription
    assert champs["euralis-alertes-immediat"].value is True and champs["euralis-alertes-resume"].value is False
    champs["euralis-alertes-courriel"].value = "pas une adresse"
    champs["euralis-alertes-resume"].value = True
    champs["euralis-alertes-enregistrer"].click()
    assert "n'est pas une adresse" in html.unescape(champs["euralis-alertes-courriels-etat"].value)
    assert courriels.abonnement(moteur) == courriels.Abonnement("sup@exemple.fr", True, False)
    champs["euralis-alertes-courriel"].value = "sup.nouveau@exemple.fr"
    champs["euralis-alertes-enregistrer"].click()
    assert ("vous recevrez à sup.nouveau@exemple.fr chaque alerte critique et le résumé quotidien"
            in html.unescape(champs["euralis-alertes-courriels-etat"].value))
    assert courriels.abonnement(moteur) == courriels.Abonnement("sup.nouveau@exemple.fr", True, True)
    with resumes["owner"].connect() as conn:  # his own row, and no one else's changed
        assert conn.execute(sa.text("SELECT login, courriel FROM alertes_abonnements WHERE resume_quotidien "
                                    "ORDER BY login")).all() == [
            ("adm", "adm@exemple.fr"), ("g1", "g1@exemple.fr"), ("g1-off", "g1-off@exemple.fr"),
            ("g2", "g2@exemple.fr"), ("sup", "sup.nouveau@exemple.fr"), ("sup-site", "sup-site@exemple.fr")]
    champs["euralis-alertes-resume"].value = False  # and out again
    champs["euralis-alertes-immediat"].value = False
    champs["euralis-alertes-enregistrer"].click()
    assert "vous ne recevez pas d'alerte par courriel" in html.unescape(champs["euralis-alertes-courriels-etat"].value)
    assert courriels.abonnement(moteur) == courriels.Abonnement("sup.nouveau@exemple.fr", False, False)
