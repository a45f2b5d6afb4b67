"""Job ``rapport_hebdo``: the weekly PDF report of each site (or of one gaveur), archived with its row.

Everything is computed and printed first (:mod:`euralis_lib.reporting`); then, in the run's one
transaction, each report's row is inserted and its file moved into place. A failed render or write leaves
no row and no file of this run (earlier reports are kept). Once archived, the reports are e-mailed to the users
who subscribed and may read them, when ``EURALIS_SMTP_URL`` is set (:mod:`euralis_lib.reporting.courriels`):
a failed e-mail is recorded and reported (``courriels`` in the result), never undoes the archive. An exploratory
run (started by hand with other parameters, sql/202) archives its reports and e-mails nobody.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Connection, Engine

from euralis_lib.jobs import base, runs
from euralis_lib.reporting import archive, contenu, courriels, page, pdf

JOB = "rapport_hebdo"


def run(engine: Engine, *, run_id: int | None, site: str | None, fin: str | None, gaveur_id: int | None) -> dict:
    """Print and archive the report of the week ending ``fin`` for ``site`` (every site when None) and for each
    of its gaveurs who asked for his own (``gaveurs.rapport_hebdo``); with ``gaveur_id``, only that gaveur's.
    Then e-mails them to their subscribers; ``courriels`` in the result says what was sent (French text)."""
    params = base.arguments(locals())
    p = base.perimetre(engine, JOB, site, None, fin)
    if gaveur_id is not None and site is None:
        raise base.JobParameterError(f"{JOB}: a gaveur's report needs his site (parameter 'site').")
    prepares: list[archive.Fichier] = []

    def compute() -> list[archive.Fichier]:
        sujets = [(code, g) for code in p.sites
                  for g in ([gaveur_id] if gaveur_id is not None else [None, *contenu.abonnes(engine, code)])]
        perimetres, pages = [], []
        for code, gaveur in sujets:
            try:
                perimetres.append(contenu.perimetre(engine, code, p.fin, gaveur))
            except ValueError as exc:
                raise base.JobParameterError(f"{JOB}: {exc}") from exc
            pages.append(page.html(contenu.rapport(engine, perimetres[-1]), datetime.now(ZoneInfo("Europe/Paris"))))
        for perimetre, document in zip(perimetres, pdf.imprimer(pages), strict=True):
            prepares.append(archive.preparer(perimetre, document))
        return prepares

    def write(conn: Connection, rid: int, fichiers: list[archive.Fichier]) -> dict:
        ids = [archive.enregistrer(conn, rid, f) for f in fichiers]
        return {"rapports": ids, "fichiers": [str(f.final) for f in fichiers],
                "octets": [f.taille for f in fichiers], "pages": [f.pages for f in fichiers]}

    try:
        resultat = base.execute(engine, JOB, params, run_id, compute, write)
    except BaseException:
        for f in prepares:
            f.abandonner()
        raise
    run = runs.get_run(engine, resultat["run_id"])
    if run is not None and run.etape != "publie":
        return {**resultat, "courriels": "Run exploratoire : rapports archivés, aucun courriel envoyé."}
    return {**resultat, "courriels": courriels.envoyer(engine, resultat.get("rapports", [])).texte()}
