"""Every plotly figure of the job notebooks and the dashboards (French labels, numbers and dates).

Time axes read ``dd/mm/yyyy`` (or ``mm/yyyy`` zoomed out); monthly charts label their months by
their French names (« nov. 2025 ») through :mod:`euralis_lib.presentation.formatting`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from euralis_lib.models import noms
from euralis_lib.presentation import formatting

SITE_COLORS = {"LL": "#1f77b4", "LS": "#ff7f0e", "MT": "#2ca02c"}
# No width: a figure takes its container's (the dashboards redraw it when that width changes).
_LAYOUT = {"template": "plotly_white", "margin": {"l": 40, "r": 20, "t": 50, "b": 40}, "height": 380, "autosize": True}
_JOUR_MS = 86_400_000
# Dates written the French way without a locale bundle in the browser: hours, days, then months.
_DATES_FR = [{"dtickrange": [None, _JOUR_MS], "value": "%d/%m %H:%M"},
             {"dtickrange": [_JOUR_MS, 28 * _JOUR_MS], "value": "%d/%m/%Y"},
             {"dtickrange": [28 * _JOUR_MS, None], "value": "%m/%Y"}]


def _est_temporel(valeurs: object) -> bool:
    """True for values plotly draws on a date axis (datetime64, Timestamps, dates, datetimes)."""
    if valeurs is None:
        return False
    serie = pd.Series(valeurs)
    if pd.api.types.is_datetime64_any_dtype(serie):
        return True
    return pd.api.types.infer_dtype(serie.dropna(), skipna=True) in {"date", "datetime", "datetime64"}


def francais(fig: go.Figure) -> go.Figure:
    """French number separators (decimal comma, narrow-space thousands) and dd/mm/yyyy dates on time axes
    (never plotly's English month names)."""
    fig.update_layout(separators=",\u202f")
    fig.update_yaxes(exponentformat="none", separatethousands=True)  # « 8 000 », not « 8k »
    temporels = [pd.to_datetime(pd.Series(t.x)) for t in fig.data if _est_temporel(getattr(t, "x", None))]
    if temporels:
        heures = any((serie.dropna().dt.normalize() != serie.dropna()).any() for serie in temporels)
        fig.update_xaxes(tickformatstops=_DATES_FR, hoverformat="%d/%m/%Y %H:%M" if heures else "%d/%m/%Y")
    return fig


def mois_francais(fig: go.Figure, mois: pd.Series, max_graduations: int = 12) -> go.Figure:
    """Label a monthly time axis with French month names (at most ``max_graduations`` labels)."""
    valeurs = sorted(pd.to_datetime(pd.Series(mois)).dropna().unique())
    pas = max(1, math.ceil(len(valeurs) / max_graduations))
    graduations = valeurs[::pas]
    fig.update_xaxes(tickmode="array", tickvals=graduations, ticktext=[formatting.mois(m) for m in graduations])
    return fig


def _style(fig: go.Figure, title: str, **layout: object) -> go.Figure:
    fig.update_layout(title=title, **{**_LAYOUT, **layout})
    return francais(fig)


def production(daily: pd.DataFrame, freq: str = "W") -> go.Figure:
    """Liver production over time per site (weekly totals by default)."""
    df = (daily.set_index("date").groupby("site_code")["production_kg"].resample(freq).sum().reset_index())
    fig = px.line(df, x="date", y="production_kg", color="site_code", color_discrete_map=SITE_COLORS,
                  labels={"date": "Date", "production_kg": "Production (kg de foie)", "site_code": "Site"})
    return _style(fig, "Production de foie par site (kg par semaine)")


def pareto(formules: pd.DataFrame) -> go.Figure:
    """Pareto fronts: complexity vs held-out error per site × souche (retained formula marked)."""
    df = formules.assign(modele=formules["site_code"] + " / " + formules["souche_code"],
                         retenue=formules["est_retenue"].map({True: "retenue", False: "front de Pareto"}))
    fig = px.line(df, x="complexite", y="mae_test", color="modele", markers=True, symbol="retenue",
                  hover_data=["formule", "r2_test"],
                  labels={"complexite": "Complexité", "mae_test": "Erreur moyenne test (g)", "modele": "Site / souche"})
    return _style(fig, "Formules : complexité contre erreur sur lots de test")


# Days of history drawn before a forecast (the history's last days, up to the forecast's start).
FORECAST_HISTORY_DAYS = 365


def forecast(history: pd.DataFrame, previsions: pd.DataFrame, site: str, horizon: int = 90) -> go.Figure:
    """History and forecast of one site at the same aggregation, 7-day means of daily kg (a lot lands on one
    day: daily values jump from 0 to thousands), the interval as a band (7-day means of the daily bounds), the
    chosen model named in French in the subtitle (so the title is never cut)."""
    jour = (history[history["site_code"] == site].set_index("date")["production_kg"].resample("D").sum()
            .tail(FORECAST_HISTORY_DAYS))
    fc = previsions[(previsions["site_code"] == site) & (previsions["horizon_jours"] == horizon)]
    fc = fc.assign(date_prevision=pd.to_datetime(fc["date_prevision"])).set_index("date_prevision").sort_index()
    # The forecast's first week averages the last actual days with the first forecast ones, as a 7-day mean does.
    avant = jour[jour.index < fc.index.min()] if len(fc) else jour.iloc[:0]
    suite = pd.concat([avant, fc["yhat"]]).rolling("7D", min_periods=1).mean().loc[fc.index]
    bornes = fc[["yhat_lower", "yhat_upper"]].rolling("7D", min_periods=1).mean()
    fig = go.Figure()
    fig.add_scatter(x=jour.index, y=jour.rolling("7D", min_periods=1).mean(), name="Historique",
                    line={"color": "#555"})
    fig.add_scatter(x=bornes.index, y=bornes["yhat_upper"], line={"width": 0}, showlegend=False, hoverinfo="skip")
    fig.add_scatter(x=bornes.index, y=bornes["yhat_lower"], fill="tonexty", line={"width": 0},
                    name="Intervalle", fillcolor="rgba(31,119,180,0.2)")
    fig.add_scatter(x=suite.index, y=suite, name="Prévision", line={"color": SITE_COLORS.get(site)})
    fig.update_yaxes(title="kg de foie par jour (moyenne sur 7 jours)")
    _style(fig, f"Prévision {horizon} jours — site {site}", margin={**_LAYOUT["margin"], "t": 80})
    if "modele" in fc and fc["modele"].notna().any():
        modele = fc["modele"].dropna().iloc[0]
        fig.update_layout(title_subtitle_text=f"Modèle : {noms.PREVISION.get(modele, modele)}")
    return fig


def backtest(bt: pd.DataFrame) -> go.Figure:
    """Backtest MAPE per site and horizon of every candidate model (the baseline included)."""
    df = bt.assign(modele=bt["modele"].map(lambda m: noms.PREVISION.get(m, m)),
                   horizon=bt["horizon_jours"].astype(str) + " j")
    fig = px.bar(df, x="horizon", y="mape", color="modele", barmode="group", facet_col="site_code",
                 labels={"mape": "MAPE (%)", "horizon": "Horizon", "modele": "Modèle", "site_code": "Site"})
    return _style(fig, "Erreur de prévision (backtest) : modèles candidats et naïf saisonnier")


def clusters(gaveurs: pd.DataFrame) -> go.Figure:
    """Gaveurs by ITM and sigma, coloured by cluster, sized by volume."""
    fig = px.scatter(gaveurs, x="itm", y="sigma_g", color="nom_cluster", size="volume", hover_name="nom",
                     hover_data=["code", "site_code", "mortalite_pct", "regularite_g"],
                     labels={"itm": "ITM", "sigma_g": "Sigma (g)", "nom_cluster": "Groupe"})
    return _style(fig, "Groupes de gaveurs")


def anomalies(scored: pd.DataFrame) -> go.Figure:
    """Anomaly score of lots over time, anomalies highlighted."""
    df = scored.assign(statut=scored["est_anomalie"].map({True: "Anomalie", False: "Normal"}))
    fig = px.scatter(df, x="fin", y="score", color="statut", hover_name="code_lot", hover_data=["explication"],
                     color_discrete_map={"Anomalie": "#d62728", "Normal": "#9ecae1"},
                     labels={"fin": "Fin de gavage", "score": "Score d'anomalie", "statut": ""})
    return _style(fig, "Score d'anomalie des lots")


def planning(plan: pd.DataFrame, methode: str = "hongrois") -> go.Figure:
    """Ducks slaughtered per day and site in a plan."""
    df = plan[(plan["methode"] == methode) & plan["place"]]
    df = df.groupby(["date_abattage", "site_code"], as_index=False)["nb_canards"].sum()
    fig = px.bar(df, x="date_abattage", y="nb_canards", color="site_code", color_discrete_map=SITE_COLORS,
                 labels={"date_abattage": "Jour d'abattage", "nb_canards": "Canards", "site_code": "Abattoir"})
    return _style(fig, f"Plan d'abattage ({'algorithme hongrois' if methode == 'hongrois' else 'glouton'})")


def finance(monthly: pd.DataFrame) -> go.Figure:
    """Monthly margin per site."""
    fig = px.bar(monthly, x="mois", y="marge_eur", color="site_code", barmode="group",
                 color_discrete_map=SITE_COLORS,
                 labels={"mois": "Mois", "marge_eur": "Marge (€)", "site_code": "Site"})
    return mois_francais(_style(fig, "Marge mensuelle par site"), monthly["mois"])


def performances_mensuelles(perf: pd.DataFrame) -> go.Figure:
    """Monthly liver production per site from the ``performances_sites`` view, ITM in the tooltip."""
    fig = px.line(perf, x="mois", y="production_foie_kg", color="site_code", markers=True,
                  color_discrete_map=SITE_COLORS, hover_data=["itm_moyen", "sigma_moyen_g", "mortalite_pct"],
                  labels={"mois": "Mois", "production_foie_kg": "Production (kg de foie)", "site_code": "Site",
                          "itm_moyen": "ITM", "sigma_moyen_g": "Sigma (g)", "mortalite_pct": "Mortalité (%)"})
    return mois_francais(_style(fig, "Production mensuelle par site (vue performances_sites)"), perf["mois"])


def distribution(lots: pd.DataFrame, colonne: str, titre: str) -> go.Figure:
    """Box plots of one lot indicator per site, one box per souche."""
    fig = px.box(lots, x="site_code", y=colonne, color="souche_code", points="outliers", hover_name="code_lot",
                 labels={"site_code": "Site", colonne: titre, "souche_code": "Souche"})
    return _style(fig, f"Distribution de {titre} par site et souche", height=340)


def doses_lot(doses: pd.DataFrame, code_lot: str) -> go.Figure:
    """A lot's meals (g of corn per duck) against the control curve, meal by meal."""
    fig = go.Figure()
    fig.add_scatter(x=doses["repas"], y=doses["dose_theorique_g"], name="Courbe de contrôle",
                    line={"color": "#555", "dash": "dash"})
    fig.add_scatter(x=doses["repas"], y=doses["dose_g"], name="Doses données", mode="lines+markers",
                    line={"color": "#1f77b4"})
    fig.update_xaxes(title="Repas")
    fig.update_yaxes(title="g de maïs par canard")
    return _style(fig, f"Doses du lot {code_lot} et courbe de contrôle", height=320)


def contributions_anomalie(contributions: Mapping[str, float], code_lot: str) -> go.Figure:
    """Why the anomalies job flagged a lot: each indicator's deviation from the gaveur's habits, in robust
    units (signed; the largest first), as horizontal bars."""
    ecarts = sorted(((float(v), noms.INDICATEURS_LOT.get(k, (k, ""))[0]) for k, v in contributions.items()),
                    key=lambda e: abs(e[0]))
    fig = go.Figure(go.Bar(x=[e[0] for e in ecarts], y=[e[1] for e in ecarts], orientation="h",
                           marker_color=["#b22222" if e[0] > 0 else "#1f77b4" for e in ecarts],
                           hovertemplate="%{y} : %{x:.1f} écarts robustes<extra></extra>"))
    fig.update_xaxes(title="Écart aux habitudes du gaveur (écarts robustes ; > 0 : au-dessus)", zeroline=True)
    return _style(fig, f"Pourquoi le lot {code_lot} est signalé", height=300, showlegend=False)


def production_sites(comparaison: pd.DataFrame, libelles: Mapping[str, str]) -> go.Figure:
    """Production per site (bars to click for the drill-down), indicators in the tooltip."""
    fig = px.bar(comparaison, x="site_code", y="production_kg", color="site_code", color_discrete_map=SITE_COLORS,
                 labels=dict(libelles), hover_data=["itm", "sigma_g", "mortalite_pct", "marge_eur"])
    return _style(fig, "Production par site (cliquez pour explorer)", height=340, showlegend=False)


def indicateurs_sites(comparaison: pd.DataFrame, libelles: Mapping[str, str]) -> go.Figure:
    """ITM, sigma and mortality side by side per site (one panel each, own scale)."""
    fig = px.bar(comparaison.melt(id_vars="site_code", value_vars=["itm", "sigma_g", "mortalite_pct"]),
                 x="site_code", y="value", color="site_code", facet_col="variable",
                 color_discrete_map=SITE_COLORS, labels={"site_code": "Site", "value": ""})
    fig.update_yaxes(matches=None, showticklabels=True)
    fig.for_each_annotation(lambda a: a.update(text=libelles.get(a.text.split("=")[-1], a.text)))
    return _style(fig, "ITM, sigma et mortalité par site", height=320, showlegend=False)


def itm_gaveurs(perf: pd.DataFrame, site: str) -> go.Figure:
    """The gaveurs of one site ranked by ITM (bars to click for their lots)."""
    fig = px.bar(perf.sort_values("itm"), x="code", y="itm", hover_name="nom",
                 hover_data=["nb_lots", "production_kg", "sigma_g", "mortalite_pct"],
                 labels={"code": "Gaveur", "itm": "ITM"}, color_discrete_sequence=[SITE_COLORS.get(site)])
    return _style(fig, f"Gaveurs du site {site} (ITM, cliquez pour voir les lots)", height=340)


def indicateurs_compares(comparaison: pd.DataFrame, libelle: str, libelle_reference: str, titre: str) -> go.Figure:
    """Indicators side by side: ``valeur`` (named ``libelle``) next to ``reference`` (``libelle_reference``),
    one group of bars per ``indicateur``."""
    fig = go.Figure([go.Bar(name=libelle, x=comparaison["indicateur"], y=comparaison["valeur"]),
                     go.Bar(name=libelle_reference, x=comparaison["indicateur"], y=comparaison["reference"])])
    return _style(fig, titre, height=340, barmode="group")


def series_comparees(df: pd.DataFrame, serie: str, reference: str, libelles: Mapping[str, str], titre: str,
                     x: str = "semaine", dates_reference: str | None = None) -> go.Figure:
    """Two series overlaid on one axis (``serie`` and ``reference`` against ``x``) and their difference
    (``serie`` − ``reference``) as bars on the same axis; ``dates_reference``, a column of the reference's own
    dates (the same weeks a year earlier), shows in the reference's tooltips."""
    ecart = df[serie] - df[reference]
    survol_ref = ({"customdata": df[dates_reference].dt.strftime("%d/%m/%Y"),
                   "hovertemplate": "%{fullData.name}, semaine du %{customdata} : %{y:,.0f} kg<extra></extra>"}
                  if dates_reference else {})
    fig = go.Figure([
        go.Bar(name="Écart", x=df[x], y=ecart, marker_color=["#2e7d32" if e >= 0 else "#c62828" for e in ecart],
               opacity=0.45),
        go.Scatter(name=libelles[serie], x=df[x], y=df[serie], mode="lines+markers", line={"color": "#1f4e79"}),
        go.Scatter(name=libelles[reference], x=df[x], y=df[reference], mode="lines+markers",
                   line={"color": "#9aa5b1", "dash": "dash"}, **survol_ref)])
    fig.update_layout(xaxis_title=libelles.get(x, "Semaine"), yaxis_title="Production (kg de foie)")
    return _style(fig, titre)


def calendrier_capacite(util: pd.DataFrame) -> go.Figure:
    """Calendar heat map: share of each slaughterhouse's daily capacity used (one cell per site and day)."""
    grille = util.pivot_table(index="site_code", columns="date_abattage", values="utilisation_pct", aggfunc="sum")
    fig = go.Figure(go.Heatmap(z=grille.to_numpy(), x=[pd.Timestamp(d) for d in grille.columns], y=list(grille.index),
                               zmin=0, zmax=100, colorscale="YlOrRd", colorbar={"title": "% capacité"},
                               hovertemplate="%{y} le %{x|%d/%m/%Y} : %{z:.0f} % de la capacité<extra></extra>"))
    fig.update_layout(xaxis_title="Jour", yaxis_title="Abattoir")
    return _style(fig, "Calendrier : capacité d'abattage utilisée (%)", height=260)


def durees_runs(runs: pd.DataFrame) -> go.Figure:
    """Duration of the recent job runs over time (start in Europe/Paris), by job and status."""
    df = runs.assign(debut_local=[formatting.heure_locale(d).tz_localize(None) for d in runs["debut"]],
                     statut=runs["statut"].map(formatting.statut_run))
    fig = px.scatter(df, x="debut_local", y="duree_s", color="job", symbol="statut", hover_data=["run_id", "erreur"],
                     labels={"debut_local": "Début", "duree_s": "Durée (s)", "job": "Job", "statut": "Statut"})
    return _style(fig, "Durée des runs", height=360)


def sauvegardes(table: pd.DataFrame) -> go.Figure:
    """Size of each backup kept over time (Europe/Paris), coloured by its verification."""
    df = table.assign(date_locale=[formatting.heure_locale(d).tz_localize(None) for d in table["Date"]],
                      etat=[v if v in ("réussie", "non vérifiée") else "échec" for v in table["Vérification"]])
    fig = px.bar(df, x="date_locale", y="Taille (Mo)", color="etat", hover_data=["Sauvegarde", "Schéma"],
                 labels={"date_locale": "Date", "etat": "Vérification"})
    return _style(fig, "Sauvegardes conservées", height=320)
