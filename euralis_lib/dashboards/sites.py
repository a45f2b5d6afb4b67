"""Sites de Production: site vs site, with drill-down site → gaveurs → lots by clicking the bars."""

from __future__ import annotations

import ipywidgets as w
import pandas as pd
from sqlalchemy.engine import Engine

from euralis_lib.dashboards import common, comparaison
from euralis_lib.dashboards.common import Contexte, Filters
from euralis_lib.database import queries
from euralis_lib.jobs import results
from euralis_lib.presentation import plots

FILTERS = common.FilterSpec(periode_jours=180, avec_gaveurs=True, comparaisons=("annee", "site"))

LIBELLES = {"site_code": "Site", "production_kg": "Production (kg)", "nb_lots": "Lots", "itm": "ITM moyen",
            "sigma_g": "Sigma moyen (g)", "mortalite_pct": "Mortalité (%)", "marge_eur": "Marge (€)",
            "marge_par_canard_eur": "Marge par canard (€)"}


def comparaison_sites(engine: Engine, filtres: Filters) -> pd.DataFrame:
    """One row per site: production, lots, ITM, sigma, mortality (slaughtered lots) and margins."""
    common.require_sites(filtres)
    lots = queries.qualite_lots(engine, filtres.sites, filtres.debut, filtres.fin)
    if lots.empty:
        raise common.EmptySelectionError(common.AUCUN_LOT)
    perf = queries.gaveur_performances(engine, filtres.sites, filtres.debut, filtres.fin)
    prod = perf.groupby("site_code")["production_kg"].sum()
    qual = lots.groupby("site_code").agg(nb_lots=("lot_id", "count"), itm=("itm", "mean"),
                                         sigma_g=("sigma_g", "mean"), mortalite_pct=("mortalite_pct", "mean"))
    fin = queries.finance_indicateurs(engine, filtres.sites, filtres.debut, filtres.fin)
    marges = fin.groupby("site_code").agg(marge_eur=("marge_eur", "sum"), nb_canards=("nb_canards", "sum"))
    marges["marge_par_canard_eur"] = marges["marge_eur"] / marges["nb_canards"]
    df = qual.join(prod).join(marges[["marge_eur", "marge_par_canard_eur"]]).reset_index()
    return df[list(LIBELLES)].round(2)


class Exploration:
    """Bar chart of sites; a click shows that site's gaveurs, a click on a gaveur shows his lots."""

    def __init__(self, engine: Engine, filtres: Filters, comparaison: pd.DataFrame) -> None:
        self.engine, self.filtres = engine, filtres
        self.detail = w.VBox([common.message("Cliquez sur la barre d'un site pour voir ses gaveurs.")])
        self.graphe = common.figure(plots.production_sites(comparaison, LIBELLES))
        for trace in self.graphe.data:
            trace.on_click(self._clic_site)
        self.widget = w.VBox([self.graphe, self.detail])

    def _clic_site(self, trace, points, _state) -> None:
        if points.point_inds:
            self.montrer_site(str(trace.x[points.point_inds[0]]))

    def montrer_site(self, site: str) -> None:
        """Drill down: the gaveurs of ``site`` ranked by ITM."""
        try:
            perf = queries.gaveur_performances(self.engine, [site], self.filtres.debut, self.filtres.fin,
                                               self.filtres.gaveurs)
            if perf.empty:
                self.detail.children = [common.message(f"Aucun gaveur avec des lots abattus sur le site {site}.")]
                return
            graphe = common.figure(plots.itm_gaveurs(perf, site))
            ids = dict(zip(perf["code"], perf["gaveur_id"], strict=True))
            graphe.data[0].on_click(lambda tr, pts, _s: pts.point_inds and self.montrer_lots(
                int(ids[tr.x[pts.point_inds[0]]]), str(tr.x[pts.point_inds[0]])))
            self.lots = w.VBox([])
            self.detail.children = [graphe, common.table_html(perf), self.lots]
        except Exception as exc:  # noqa: BLE001
            self.detail.children = [common.message(common.french_error(exc), "erreur")]

    def montrer_lots(self, gaveur_id: int, code: str) -> None:
        """Drill down: the slaughtered lots of one gaveur."""
        try:
            lots = queries.qualite_lots(self.engine, self.filtres.sites, self.filtres.debut, self.filtres.fin)
            lots = lots[lots["gaveur_id"] == gaveur_id].drop(columns=["gaveur_id"])
            self.lots.children = [common.titre(f"Lots du gaveur {code}", 4), common.table_html(lots),
                                  common.export_links(lots, f"lots_{code}")]
        except Exception as exc:  # noqa: BLE001
            self.lots.children = [common.message(common.french_error(exc), "erreur")]


def build(ctx: Contexte) -> list[w.Widget]:
    """Comparison table, metric charts, the drill-down explorer, the comparison chosen in the filter bar and the
    monthly performances per site."""
    engine, filtres = ctx.engine, ctx.require_filters()
    comp = comparaison_sites(engine, filtres)
    exploration = Exploration(engine, filtres, comp)
    enfants = [common.table_html(comp, colonnes=LIBELLES), common.export_links(comp, "comparaison_sites", LIBELLES),
               common.figure(plots.indicateurs_sites(comp, LIBELLES)), exploration.widget,
               common.source("base de production ; marges calculées avec les prix de prix_parametres"),
               *comparaison.section(ctx)]
    perf = results.performances(engine)
    enfants.append(common.titre("Performances mensuelles"))
    if perf.empty:
        return [*enfants, common.message("Vue des performances jamais rafraîchie : lancez le job "
                                         "refresh_performances.")]
    mensuel = perf.data[perf.data["site_code"].isin(filtres.sites)]
    return [*enfants, common.figure(plots.performances_mensuelles(mensuel)), common.source(perf.source())]
