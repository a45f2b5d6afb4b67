"""Plotly figures shared by the job notebooks and the dashboards (French labels)."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

SITE_COLORS = {"LL": "#1f77b4", "LS": "#ff7f0e", "MT": "#2ca02c"}
_LAYOUT = {"template": "plotly_white", "margin": {"l": 40, "r": 20, "t": 50, "b": 40}, "height": 380}
_JOUR_MS = 86_400_000
# Dates written the French way without a locale bundle in the browser: days, then months.
_DATES_FR = [{"dtickrange": [None, 28 * _JOUR_MS], "value": "%d/%m/%Y"},
             {"dtickrange": [28 * _JOUR_MS, None], "value": "%m/%Y"}]


def francais(fig: go.Figure) -> go.Figure:
    """French number separators (decimal comma, thin-space thousands) and dd/mm/yyyy dates on time axes."""
    fig.update_layout(separators=",\u202f")
    if any(getattr(trace, "x", None) is not None and pd.api.types.is_datetime64_any_dtype(pd.Series(trace.x))
           for trace in fig.data):
        fig.update_xaxes(tickformatstops=_DATES_FR, hoverformat="%d/%m/%Y")
    return fig


def _style(fig: go.Figure, title: str) -> go.Figure:
    fig.update_layout(title=title, **_LAYOUT)
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


def forecast(history: pd.DataFrame, previsions: pd.DataFrame, site: str, horizon: int = 90) -> go.Figure:
    """History (weekly) and daily forecast with its interval for one site."""
    hist = history[history["site_code"] == site].set_index("date")["production_kg"].resample("D").sum().tail(365)
    fc = previsions[(previsions["site_code"] == site) & (previsions["horizon_jours"] == horizon)]
    fig = go.Figure()
    fig.add_scatter(x=hist.index, y=hist.rolling(7, min_periods=1).mean(), name="Historique (moyenne 7 j)",
                    line={"color": "#555"})
    fig.add_scatter(x=fc["date_prevision"], y=fc["yhat_upper"], line={"width": 0}, showlegend=False, hoverinfo="skip")
    fig.add_scatter(x=fc["date_prevision"], y=fc["yhat_lower"], fill="tonexty", line={"width": 0},
                    name="Intervalle", fillcolor="rgba(31,119,180,0.2)")
    fig.add_scatter(x=fc["date_prevision"], y=fc["yhat"], name="Prévision", line={"color": SITE_COLORS.get(site)})
    fig.update_yaxes(title="kg de foie par jour")
    return _style(fig, f"Prévision {horizon} jours — site {site}")


def backtest(bt: pd.DataFrame) -> go.Figure:
    """Backtest MAPE per site and horizon, Prophet vs seasonal naive."""
    df = bt.assign(modele=bt["modele"].map({"prophet": "Prophet", "naif_saisonnier": "Naïf saisonnier"}),
                   horizon=bt["horizon_jours"].astype(str) + " j")
    fig = px.bar(df, x="horizon", y="mape", color="modele", barmode="group", facet_col="site_code",
                 labels={"mape": "MAPE (%)", "horizon": "Horizon", "modele": "Modèle", "site_code": "Site"})
    return _style(fig, "Erreur de prévision (backtest) : Prophet contre naïf saisonnier")


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
    return _style(fig, "Marge mensuelle par site")


def performances_mensuelles(perf: pd.DataFrame) -> go.Figure:
    """Monthly liver production per site from the ``performances_sites`` view, ITM in the tooltip."""
    fig = px.line(perf, x="mois", y="production_foie_kg", color="site_code", markers=True,
                  color_discrete_map=SITE_COLORS, hover_data=["itm_moyen", "sigma_moyen_g", "mortalite_pct"],
                  labels={"mois": "Mois", "production_foie_kg": "Production (kg de foie)", "site_code": "Site",
                          "itm_moyen": "ITM", "sigma_moyen_g": "Sigma (g)", "mortalite_pct": "Mortalité (%)"})
    return _style(fig, "Production mensuelle par site (vue performances_sites)")
