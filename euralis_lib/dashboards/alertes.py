"""Alertes: the alert centre — filters, list, mark read, acknowledge, and per rule how often users judged
an alert a false alarm; the logged-in user's alert e-mails. Everything goes through
:mod:`euralis_lib.alerts.inbox` and :mod:`euralis_lib.alerts.courriels` on the page's engine, so PostgreSQL
decides which alerts the user reads, what he may acknowledge and whose subscription he writes (his own)."""

from __future__ import annotations

import json

import ipywidgets as w
import pandas as pd

from euralis_lib.alerts import ISSUES, SEVERITES, courriels, inbox, rules
from euralis_lib.alerts.inbox import FiltreAlertes
from euralis_lib.dashboards import common
from euralis_lib.dashboards.common import Contexte
from euralis_lib.presentation import formatting, plots

FILTERS = common.FilterSpec(periode_jours=90, avec_gaveurs=True)
COLONNES = {"alerte_id": "N°", "horodatage": "Date", "site_code": "Site", "gaveur": "Gaveur", "lot": "Lot",
            "regle": "Règle", "severite": "Sévérité", "message": "Message", "lue": "Lue",
            "acquittee_par": "Acquittée par", "issue": "Issue", "commentaire": "Commentaire"}
COLONNES_REGLES = {"libelle": "Règle", "severite": "Sévérité", "actif": "Active", "evaluee": "Évaluée",
                   "levees": "Levées", "acquittees": "Acquittées", "part_fausses_pct": "Fausses alertes (%)"}
TOUS = "toutes"


class Centre:
    """The alert centre's own filters, list and actions, over the page's period, sites and gaveurs."""

    def __init__(self, ctx: Contexte) -> None:
        self.ctx = ctx
        filtres = ctx.require_filters()
        self.base = FiltreAlertes(debut=filtres.debut, fin=filtres.fin, sites=filtres.sites,
                                  gaveurs=filtres.gaveurs or ())
        types = rules.regles(ctx.engine)[["libelle", "type_alerte"]]
        self.severite = w.Dropdown(options=[("toutes", TOUS), *((v, k) for k, v in SEVERITES.items())],
                                   description="Sévérité")
        self.regle = w.Dropdown(options=[("toutes", TOUS), *types.itertuples(index=False)], description="Règle")
        self.lues = w.Dropdown(options=[("toutes", TOUS), ("non lues", False), ("lues", True)], description="Lecture")
        self.acquittees = w.Dropdown(options=[("toutes", TOUS), ("non acquittées", False), ("acquittées", True)],
                                     description="Acquittement")
        for champ in (self.severite, self.regle, self.lues, self.acquittees):
            champ.add_class("euralis-filtre-alertes")
            champ.observe(lambda _c: self.afficher(), names="value")
        self.liste = w.VBox()
        self.choix = w.Dropdown(description="Alerte", layout=w.Layout(width="560px"))
        self.issue = w.Dropdown(options=[(v, k) for k, v in ISSUES.items()], description="Issue")
        self.commentaire = w.Textarea(placeholder="Commentaire (ce qui a été constaté, fait)",
                                      layout=w.Layout(width="560px", height="60px"))
        self.etat = w.HTML()
        lue = w.Button(description="Marquer comme lue")
        toutes = w.Button(description="Tout marquer comme lu")
        acquitter = w.Button(description="Acquitter", button_style="warning")
        for bouton, classe in ((lue, "euralis-marquer-lue"), (toutes, "euralis-tout-lu"),
                               (acquitter, "euralis-acquitter")):
            bouton.add_class(classe)
        lue.on_click(lambda _b: self._agir(lambda: inbox.marquer_lues(ctx.engine, [self._choisie()]),
                                           "Alerte marquée comme lue."))
        toutes.on_click(lambda _b: self._agir(lambda: inbox.marquer_lues(ctx.engine, self.ids),
                                              "Alertes de la liste marquées comme lues."))
        acquitter.on_click(lambda _b: self._agir(lambda: inbox.acquitter(
            ctx.engine, self._choisie(), self.issue.value, self.commentaire.value), "Alerte acquittée."))
        voir = w.Button(description="Voir le lot")
        voir.add_class("euralis-voir-lot")
        voir.on_click(lambda _b: self.voir_lot())
        self.lot = w.VBox()
        self.actions = [w.HBox([self.choix, lue, toutes, voir]), w.HBox([self.issue, self.commentaire, acquitter]),
                        self.etat, self.lot]
        self.ids: list[int] = []

    def filtre(self) -> FiltreAlertes:
        """The page's filters plus the alert centre's own."""
        def valeur(champ: w.Dropdown) -> object:
            return None if champ.value == TOUS else champ.value
        return FiltreAlertes(debut=self.base.debut, fin=self.base.fin, sites=self.base.sites,
                             gaveurs=self.base.gaveurs, severites=[valeur(self.severite)] if valeur(self.severite)
                             else (), type_alerte=valeur(self.regle), lues=valeur(self.lues),
                             acquittees=valeur(self.acquittees))

    def _choisie(self) -> int:
        if self.choix.value is None:
            raise common.EmptySelectionError("Aucune alerte choisie.")
        return int(self.choix.value)

    def _agir(self, faire, reussite: str) -> None:  # noqa: ANN001
        try:
            faire()
        except Exception as exc:  # noqa: BLE001 — shown in French; one transaction, nothing half-written
            self.etat.value = common.message(common.french_error(exc), "erreur").value
            return
        self.afficher()
        self.etat.value = common.message(reussite, "info").value

    def voir_lot(self) -> None:
        """The chosen alert's lot: who, when, deaths, why the anomalies job flagged it (its text and each
        indicator's deviation as a chart), its meals against the
        control curve (read as the user: another gaveur's lot is never shown)."""
        try:
            contexte = inbox.contexte_lot(self.ctx.engine, self._choisie())
        except Exception as exc:  # noqa: BLE001 — shown in French
            self.lot.children = [common.message(common.french_error(exc), "erreur")]
            return
        if contexte is None:
            self.lot.children = [common.message("Cette alerte ne concerne pas un lot que vous pouvez consulter.")]
            return
        lot, valeur = contexte.lot, formatting.valeur
        resume = (f"Lot {lot['code_lot']} – site {lot['site_code']} – gaveur {lot['gaveur']} ({lot['gaveur_nom']}) – "
                  f"du {formatting.jour(lot['debut'])} au {formatting.jour(lot['fin'])} – "
                  f"{valeur(lot['nb_canards_entres'], 0)} canards, {valeur(lot['nb_morts'], 0)} morts "
                  f"(mortalité {valeur(lot['mortalite_pct'])} %)")
        enfants: list[w.Widget] = [common.message(resume, "info")]
        anomalie = contexte.anomalie
        if anomalie is not None and anomalie["est_anomalie"]:
            enfants.append(common.message(
                f"Signalé par le job anomalies (run n° {anomalie['run_id']}, score {valeur(anomalie['score'], 3)}) : "
                f"{anomalie['explication'] or 'sans explication enregistrée'}.",
                "avertissement" if anomalie["critique"] else "info"))
            if anomalie["contributions"]:
                enfants.append(common.figure(plots.contributions_anomalie(anomalie["contributions"],
                                                                          str(lot["code_lot"]))))
        enfants.append(common.figure(plots.doses_lot(contexte.doses, str(lot["code_lot"]))) if not contexte.doses.empty
                       else common.message("Aucune dose enregistrée pour ce lot."))
        self.lot.children = enfants

    def afficher(self) -> None:
        """Re-read the list for the current filters."""
        filtre = self.filtre()
        df = inbox.alertes(self.ctx.engine, filtre)
        total = inbox.nombre(self.ctx.engine, filtre)
        self.ids = [int(i) for i in df["alerte_id"]]
        self.choix.options = [(f"N° {r.alerte_id} – {formatting.jour(r.horodatage)} – {r.lot or r.site_code or 'Ops'}"
                               f" – {r.message[:70]}", int(r.alerte_id)) for r in df.itertuples()]
        self.choix.index = 0 if self.ids else None
        if df.empty:
            self.liste.children = [common.message("Aucune alerte pour ces filtres.")]
            return
        vue = df.assign(severite=df["severite"].map(SEVERITES), issue=df["issue"].map(ISSUES),
                        acquittee_par=df["acquittee_par"].fillna(""), commentaire=df["commentaire"].fillna(""))
        self.liste.children = [common.source(f"{total} alerte(s), les {len(df)} plus récentes affichées."),
                               common.table_html(vue[list(COLONNES)], colonnes=COLONNES)]

    def widgets(self) -> list[w.Widget]:
        """Filters, list, actions."""
        self.afficher()
        return [w.HBox([self.severite, self.regle, self.lues, self.acquittees]), self.liste, *self.actions]


def section_regles(ctx: Contexte) -> list[w.Widget]:
    """Per rule over the period: raised, acknowledged, share judged « fausse alerte »."""
    filtres = ctx.require_filters()
    stats = inbox.par_regle(ctx.engine, filtres.debut, filtres.fin)
    vue = stats.assign(severite=stats["severite"].map(SEVERITES),
                       part_fausses_pct=stats["part_fausses_pct"].astype("Float64"))
    return [common.titre("Règles : ce que les utilisateurs en disent"),
            common.source("Alertes levées sur la période, acquittées, et part jugée « fausse alerte » par les "
                          "utilisateurs : la règle à régler en premier."),
            common.table_html(pd.DataFrame(vue[list(COLONNES_REGLES)]), colonnes=COLONNES_REGLES)]


def reglage_regles(ctx: Contexte) -> list[w.Widget]:
    """Admins: switch a rule on or off, its severity, sites and thresholds (audited by the database)."""
    df = rules.regles(ctx.engine).set_index("code")
    code = w.Dropdown(options=[(r.libelle, c) for c, r in df.iterrows()], description="Règle",
                      layout=w.Layout(width="460px"))
    actif = w.Checkbox(description="Active")
    severite = w.Dropdown(options=[(v, k) for k, v in SEVERITES.items()], description="Sévérité")
    sites = w.Text(description="Sites", placeholder="LL,MT (vide = tous)")
    parametres = w.Text(description="Seuils", layout=w.Layout(width="460px"))
    etat = w.HTML()

    def charger(_c: object = None) -> None:
        regle = df.loc[code.value]
        actif.value, severite.value = bool(regle.actif), regle.severite
        # Text inputs show their value as text, never as HTML.
        sites.set_trait("value", ",".join(regle.sites) if regle.sites else "")
        parametres.set_trait("value", json.dumps(regle.parametres, ensure_ascii=False))

    def enregistrer(_b: w.Button) -> None:
        try:
            choisis = [x.strip().upper() for x in sites.value.split(",") if x.strip()]
            rules.modifier(ctx.engine, code.value, actif=actif.value, severite=severite.value, sites=choisis,
                           tous_sites=not choisis, parametres=json.loads(parametres.value or "{}"))
        except Exception as exc:  # noqa: BLE001 — shown in French; nothing half-written
            etat.value = common.message(common.french_error(exc), "erreur").value
            return
        etat.value = common.message("Règle enregistrée.", "info").value

    code.observe(charger, names="value")
    charger()
    bouton = w.Button(description="Enregistrer la règle")
    bouton.add_class("euralis-enregistrer-regle")
    bouton.on_click(enregistrer)
    return [common.titre("Régler les règles (administrateurs)"), w.HBox([code, actif, severite]),
            w.HBox([sites, parametres, bouton]), etat]


def section_courriels(ctx: Contexte) -> list[w.Widget]:
    """The logged-in user's alert e-mails: his address, each critical alert at once, the daily digest (his own row,
    written as him)."""
    actuel = courriels.abonnement(ctx.engine)
    adresse = w.Text(value=actuel.courriel if actuel else "", placeholder="nom@exemple.fr",
                     description="Adresse électronique", style={"description_width": "initial"},
                     layout=w.Layout(width="420px"))
    immediat = w.Checkbox(value=bool(actuel and actuel.critique_immediat), indent=False, layout=w.Layout(width="auto"),
                          description="Recevoir chaque alerte critique par courriel dès qu'elle est levée")
    resume = w.Checkbox(value=bool(actuel and actuel.resume_quotidien), indent=False, layout=w.Layout(width="auto"),
                        description="Recevoir chaque matin un résumé des alertes de la veille (aucun courriel sans "
                                    "alerte)")
    enregistrer = w.Button(description="Enregistrer", icon="envelope")
    etat = w.HTML()
    for champ, classe in ((adresse, "euralis-alertes-courriel"), (immediat, "euralis-alertes-immediat"),
                          (resume, "euralis-alertes-resume"), (enregistrer, "euralis-alertes-enregistrer"),
                          (etat, "euralis-alertes-courriels-etat")):
        champ.add_class(classe)

    def _enregistrer(_bouton: w.Button) -> None:
        try:
            courriels.abonner(ctx.engine, adresse.value, immediat.value, resume.value)
        except Exception as exc:  # noqa: BLE001 — shown to the user in French; nothing half-written
            etat.value = common.message_html(common.french_error(exc), "erreur")
            return
        choisis = [texte for case, texte in ((immediat, "chaque alerte critique"), (resume, "le résumé quotidien"))
                   if case.value]
        texte = (f"Enregistré : vous recevrez à {adresse.value.strip()} {' et '.join(choisis)}." if choisis
                 else "Enregistré : vous ne recevez pas d'alerte par courriel.")
        etat.value = common.message_html(texte, "info")

    enregistrer.on_click(_enregistrer)
    return [common.titre("Courriels"), immediat, resume, w.HBox([adresse, enregistrer]), etat]


def build(ctx: Contexte) -> list[w.Widget]:
    """The alert centre, the per-rule figures, for admins the rules' settings and (with login) the user's alert
    e-mails."""
    return [common.titre("Alertes"), *Centre(ctx).widgets(), *section_regles(ctx),
            *(reglage_regles(ctx) if ctx.est_admin else []),
            *(section_courriels(ctx) if ctx.utilisateur is not None else [])]
