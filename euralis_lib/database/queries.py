"""The data layer: query functions returning DataFrames, with optional site and period filters.

Every function takes an engine (or connection) first, then ``sites`` (codes, default all),
``debut`` and ``fin`` (inclusive dates, default unbounded). Unknown site codes (checked against
the ``sites`` table) or an inverted period raise ``ValueError`` naming the valid choices. Only
bound parameters reach SQL. Reference data (sites, souches, distances between sites) is read from
the database, seeded by the migrations.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from euralis_lib.database.db import connect, read_df

Source = Engine | Connection
KPI_COLUMNS = ("production_totale_kg", "nb_lots_actifs", "nb_gaveurs_actifs", "nb_alertes_critiques")
_FAR_PAST, _FAR_FUTURE = date(1900, 1, 1), date(2999, 12, 31)


def _scalars(source: Source, sql: str, params: dict | None = None) -> list:
    if isinstance(source, Engine):
        with connect(source) as conn:
            return list(conn.execute(sa.text(sql), params or {}).scalars())
    return list(source.execute(sa.text(sql), params or {}).scalars())


def site_codes(source: Source) -> list[str]:
    """Codes of the production sites in the ``sites`` table, in order."""
    return [str(c) for c in _scalars(source, "SELECT code FROM sites ORDER BY code")]


def validate_filters(source: Source, sites: Sequence[str] | str | None = None, debut: date | None = None,
                     fin: date | None = None) -> dict:
    """Check and normalise the common filters into bound parameters (``sites``, ``debut``, ``fin``)."""
    if isinstance(sites, str):
        sites = [sites]
    connus = site_codes(source)
    chosen = connus if sites is None else [str(s).upper() for s in sites]
    unknown = sorted(set(chosen) - set(connus))
    if unknown:
        raise ValueError(f"Unknown site code(s) {', '.join(unknown)}: valid choices are {', '.join(connus)}.")
    for name, value in (("debut", debut), ("fin", fin)):
        if value is not None and not isinstance(value, date):
            raise ValueError(f"{name} must be a date, not {type(value).__name__} ({value!r}).")
    if debut is not None and fin is not None and debut > fin:
        raise ValueError(f"Inverted period: debut {debut} is after fin {fin}; give debut <= fin.")
    return {"sites": chosen, "debut": _as_date(debut) or _FAR_PAST, "fin": _as_date(fin) or _FAR_FUTURE}


def _as_date(value: date | None) -> date | None:
    return value.date() if isinstance(value, pd.Timestamp) else value


def sites(source: Source) -> pd.DataFrame:
    """The production sites with their slaughter capacity and number of gaveurs."""
    return read_df(source, """
        SELECT s.code AS site_code, s.nom, s.region, s.capacite_abattage_jour,
               count(g.gaveur_id) AS nb_gaveurs
        FROM sites s LEFT JOIN gaveurs g ON g.site_code = s.code
        GROUP BY s.code ORDER BY s.code""")


def souches(source: Source) -> pd.DataFrame:
    """The duck genetic lines (code, name)."""
    return read_df(source, "SELECT code AS souche_code, nom FROM souches ORDER BY code")


def distances_sites(source: Source) -> dict[frozenset[str], float]:
    """Road distance (km) between two sites' slaughterhouses, keyed by the pair of site codes."""
    df = read_df(source, "SELECT site_a, site_b, distance_km::float AS km FROM distances_sites")
    return {frozenset({r.site_a, r.site_b}): float(r.km) for r in df.itertuples()}


def gaveur_options(source: Source) -> pd.DataFrame:
    """Gaveurs for filters and choices (id, code, name, site)."""
    return read_df(source, "SELECT gaveur_id, code, nom, site_code FROM gaveurs ORDER BY site_code, code")


def lots_to_plan(source: Source, sites: Sequence[str], debut: date, fin: date) -> pd.DataFrame:
    """Lots whose fattening ends between ``debut`` and ``fin``, with ducks alive and gaveur distance."""
    return read_df(source, """
        SELECT l.lot_id, l.code_lot, l.site_code, l.fin, l.nb_canards_entres - l.nb_morts AS nb_canards,
               g.distance_km::float AS distance_km
        FROM lots_gavage l JOIN gaveurs g USING (gaveur_id)
        WHERE l.site_code = ANY(:sites) AND l.fin BETWEEN :debut AND :fin
        ORDER BY l.fin, l.lot_id""", {"sites": list(sites), "debut": debut, "fin": fin})


def lots_production(source: Source, sites: Sequence[str] | str | None = None) -> pd.DataFrame:
    """Every lot of the sites with its planned end and, once slaughtered, its outcome (for forecasting
    from the lots in fattening)."""
    params = validate_filters(source, sites, None, None)
    df = read_df(source, """
        SELECT l.site_code, l.gaveur_id, l.debut, l.fin, l.nb_canards_entres, a.date_abattage, a.nb_canards_abattus,
               a.poids_foie_moyen_g::float AS poids_foie_moyen_g
        FROM lots_gavage l LEFT JOIN abattages a USING (lot_id)
        WHERE l.site_code = ANY(:sites) ORDER BY l.site_code, l.debut""", {"sites": params["sites"]})
    for col in ("debut", "fin", "date_abattage"):
        df[col] = pd.to_datetime(df[col])
    return df


def price(source: Source, parametre: str, day: date) -> float | None:
    """A price parameter in force on a day (any site), from ``prix_parametres`` (None when undefined)."""
    (value,) = _scalars(source, "SELECT prix_a(:p, NULL, :d)", {"p": parametre, "d": day})
    return None if value is None else float(value)


def transport_price(source: Source, day: date) -> float | None:
    """Transport price (EUR/km) in force on a day, from ``prix_parametres`` (None when undefined)."""
    return price(source, "cout_transport_eur_km", day)


def data_period(source: Source) -> tuple[date | None, date | None]:
    """First day and most recent day holding data (feeding records or slaughters)."""
    df = read_df(source, """
        SELECT (SELECT min(debut) FROM lots_gavage) AS debut,
               GREATEST((SELECT max(horodatage)::date FROM doses_gavage),
                        (SELECT max(date_abattage) FROM abattages)) AS fin""")
    row = df.iloc[0]
    return (None if pd.isna(row["debut"]) else pd.Timestamp(row["debut"]).date(),
            None if pd.isna(row["fin"]) else pd.Timestamp(row["fin"]).date())


def default_period(source: Source, days: int = 30) -> tuple[date, date]:
    """The last ``days`` days ending at the most recent data day (today when there is no data)."""
    _, last = data_period(source)
    last = last or date.today()
    return last - timedelta(days=days - 1), last


def dashboard_kpis(source: Source, sites: Sequence[str] | str | None = None, debut: date | None = None,
                   fin: date | None = None) -> pd.DataFrame:
    """The four dashboard KPIs per site over a period (default: the last 30 days of data).

    ``production_totale_kg``: liver weight slaughtered in the period; ``nb_lots_actifs``: lots
    being fattened at some point of the period; ``nb_gaveurs_actifs``: their gaveurs;
    ``nb_alertes_critiques``: critical alerts raised in the period.
    """
    if debut is None or fin is None:
        d0, d1 = default_period(source)
        debut, fin = debut or d0, fin or d1
    params = validate_filters(source, sites, debut, fin)
    return read_df(source, """
        WITH s AS (SELECT code FROM sites WHERE code = ANY(:sites)),
        prod AS (
            SELECT l.site_code, sum(a.poids_foie_total_kg) AS kg
            FROM abattages a JOIN lots_gavage l USING (lot_id)
            WHERE a.date_abattage BETWEEN :debut AND :fin GROUP BY l.site_code),
        actifs AS (
            SELECT site_code, count(*) AS lots, count(DISTINCT gaveur_id) AS gaveurs
            FROM lots_gavage WHERE debut <= :fin AND fin >= :debut GROUP BY site_code),
        alertes AS (
            SELECT site_code, count(*) AS n FROM alertes
            WHERE severite = 'critique' AND horodatage >= CAST(:debut AS date)
              AND horodatage < CAST(:fin AS date) + 1
            GROUP BY site_code)
        SELECT s.code AS site_code,
               round(COALESCE(prod.kg, 0), 1)::float AS production_totale_kg,
               COALESCE(actifs.lots, 0)::int AS nb_lots_actifs,
               COALESCE(actifs.gaveurs, 0)::int AS nb_gaveurs_actifs,
               COALESCE(alertes.n, 0)::int AS nb_alertes_critiques
        FROM s LEFT JOIN prod ON prod.site_code = s.code
               LEFT JOIN actifs ON actifs.site_code = s.code
               LEFT JOIN alertes ON alertes.site_code = s.code
        ORDER BY s.code""", params)


def production_journaliere(source: Source, sites: Sequence[str] | str | None = None,
                           debut: date | None = None, fin: date | None = None) -> pd.DataFrame:
    """Daily liver production (kg) per site, one row per site and day (zeros where nothing was slaughtered)."""
    params = validate_filters(source, sites, debut, fin)
    df = read_df(source, """
        WITH bornes AS (
            SELECT GREATEST(min(date_abattage), CAST(:debut AS date)) AS d0,
                   LEAST(max(date_abattage), CAST(:fin AS date)) AS d1
            FROM abattages),
        jours AS (SELECT generate_series(d0, d1, interval '1 day')::date AS jour FROM bornes WHERE d0 <= d1),
        prod AS (
            SELECT l.site_code, a.date_abattage AS jour, sum(a.poids_foie_total_kg) AS kg, count(*) AS lots
            FROM abattages a JOIN lots_gavage l USING (lot_id)
            WHERE a.date_abattage BETWEEN :debut AND :fin AND l.site_code = ANY(:sites)
            GROUP BY 1, 2)
        SELECT j.jour AS date, s.code AS site_code,
               COALESCE(p.kg, 0)::float AS production_kg, COALESCE(p.lots, 0)::int AS nb_lots
        FROM jours j CROSS JOIN (SELECT code FROM sites WHERE code = ANY(:sites)) s
        LEFT JOIN prod p ON p.jour = j.jour AND p.site_code = s.code
        ORDER BY s.code, j.jour""", params)
    df["date"] = pd.to_datetime(df["date"])
    return df


def moyennes_sites(source: Source, debut: date, fin: date) -> pd.DataFrame:
    """Per-site means over every lot slaughtered in the period (sites with at least 3 gaveurs), for any
    logged-in user, a gaveur included, through the ``moyennes_sites`` SQL function (sql/112_rls.sql)."""
    return read_df(source, "SELECT * FROM moyennes_sites(:debut, :fin)", {"debut": debut, "fin": fin}
                   ).set_index("site_code").astype(float)


# The year-earlier period of a comparison: 364 days (52 weeks) back, so that each day falls on the same weekday
# (a site slaughters on fixed weekdays: a 365-day shift would compare a slaughter day with a day off).
RECUL_ANNEE_JOURS = 364


def production_semaines(source: Source, sites: Sequence[str] | str | None, debut: date, fin: date,
                        gaveurs: Sequence[int] | None = None, recul_jours: int = 0) -> pd.DataFrame:
    """Liver production (kg) and slaughtered lots per week of the period ``debut``–``fin``, weeks counted from
    ``debut`` (the last one may be shorter), zeros for weeks without slaughter.

    With ``recul_jours``, the production of the same weeks ``recul_jours`` days earlier, dated on the period's
    weeks (``semaine`` stays the current week's first day), so that two periods overlay on one axis.
    """
    if debut is None or fin is None:
        raise ValueError("production_semaines needs both debut and fin.")
    params = validate_filters(source, sites, debut, fin)
    params.update(recul=int(recul_jours), gaveurs=[int(g) for g in gaveurs] if gaveurs is not None else None)
    df = read_df(source, """
        WITH semaines AS (
            SELECT s::date AS semaine
            FROM generate_series(CAST(:debut AS date), CAST(:fin AS date), interval '7 days') s),
        prod AS (
            SELECT a.date_abattage + CAST(:recul AS int) AS jour, a.poids_foie_total_kg AS kg
            FROM abattages a JOIN lots_gavage l USING (lot_id)
            WHERE l.site_code = ANY(:sites)
              AND a.date_abattage BETWEEN CAST(:debut AS date) - CAST(:recul AS int)
                                      AND CAST(:fin AS date) - CAST(:recul AS int)
              AND (CAST(:gaveurs AS int[]) IS NULL OR l.gaveur_id = ANY(CAST(:gaveurs AS int[]))))
        SELECT w.semaine, COALESCE(sum(p.kg), 0)::float AS production_kg, count(p.kg)::int AS nb_lots
        FROM semaines w LEFT JOIN prod p ON p.jour BETWEEN w.semaine AND w.semaine + 6
        GROUP BY w.semaine ORDER BY w.semaine""", params)
    df["semaine"] = pd.to_datetime(df["semaine"])
    return df


def comparaison_annee(source: Source, sites: Sequence[str] | str | None, debut: date, fin: date,
                      gaveurs: Sequence[int] | None = None) -> pd.DataFrame:
    """Weekly production of the period next to the same weeks a year earlier (:data:`RECUL_ANNEE_JOURS` back):
    ``production_kg``, ``production_kg_an_passe``, ``semaine_an_passe`` (that week's first day), ``ecart_kg``
    (current − year earlier) and ``ecart_pct`` (NaN where the year earlier is zero)."""
    actuel = production_semaines(source, sites, debut, fin, gaveurs)
    avant = production_semaines(source, sites, debut, fin, gaveurs, recul_jours=RECUL_ANNEE_JOURS)
    df = actuel[["semaine", "production_kg"]].assign(
        production_kg_an_passe=avant["production_kg"].to_numpy(),
        semaine_an_passe=actuel["semaine"] - pd.Timedelta(days=RECUL_ANNEE_JOURS))
    df["ecart_kg"] = df["production_kg"] - df["production_kg_an_passe"]
    df["ecart_pct"] = 100 * df["ecart_kg"] / df["production_kg_an_passe"].where(df["production_kg_an_passe"] != 0)
    return df


def moyennes_groupe(source: Source, gaveur_id: int, debut: date, fin: date) -> pd.DataFrame:
    """The means of ``gaveur_id``'s group (cluster of the latest successful clustering run) over the lots
    slaughtered in the period, through the ``moyennes_groupe`` SQL function (sql/198): one row, or none when
    there is no run, the gaveur is in no group or not the caller's to read, or fewer than 3 gaveurs of the
    group slaughtered. Only aggregates: no other gaveur's code or lot."""
    return read_df(source, "SELECT * FROM moyennes_groupe(:g, :debut, :fin)",
                   {"g": int(gaveur_id), "debut": debut, "fin": fin})


def gaveur_performances(source: Source, sites: Sequence[str] | str | None = None, debut: date | None = None,
                        fin: date | None = None, gaveurs: Sequence[int] | None = None) -> pd.DataFrame:
    """Per-gaveur performance over the lots slaughtered in the period, ranked by ITM within each site.

    ITM is weighted (total corn / total liver), sigma the mean of lot sigmas, mortality over all
    ducks placed. ``rang`` 1 = best (lowest) ITM of its site.
    """
    params = validate_filters(source, sites, debut, fin)
    params["gaveurs"] = [int(g) for g in gaveurs] if gaveurs is not None else None
    return read_df(source, """
        SELECT g.gaveur_id, g.code, g.nom, g.site_code,
               count(*)::int AS nb_lots,
               sum(a.nb_canards_abattus)::int AS nb_canards_abattus,
               round(sum(a.poids_foie_total_kg), 1)::float AS production_kg,
               round(avg(a.poids_foie_moyen_g), 1)::float AS poids_foie_moyen_g,
               round(sum(a.mais_total_kg) / NULLIF(sum(a.poids_foie_total_kg), 0), 2)::float AS itm,
               round(avg(a.sigma_g), 1)::float AS sigma_g,
               round(100.0 * sum(l.nb_morts) / NULLIF(sum(l.nb_canards_entres), 0), 2)::float AS mortalite_pct,
               rank() OVER (PARTITION BY g.site_code
                            ORDER BY sum(a.mais_total_kg) / NULLIF(sum(a.poids_foie_total_kg), 0))::int AS rang
        FROM gaveurs g
        JOIN lots_gavage l ON l.gaveur_id = g.gaveur_id
        JOIN abattages a ON a.lot_id = l.lot_id
        WHERE g.site_code = ANY(:sites) AND a.date_abattage BETWEEN :debut AND :fin
          AND (CAST(:gaveurs AS int[]) IS NULL OR g.gaveur_id = ANY(CAST(:gaveurs AS int[])))
        GROUP BY g.gaveur_id
        ORDER BY g.site_code, rang, g.code""", params)


def qualite_lots(source: Source, sites: Sequence[str] | str | None = None, debut: date | None = None,
                 fin: date | None = None) -> pd.DataFrame:
    """One row per slaughtered lot with its quality figures (ITM, sigma, liver weight, fat loss, grades)."""
    params = validate_filters(source, sites, debut, fin)
    return read_df(source, """
        SELECT l.lot_id, l.code_lot, l.site_code, l.souche_code, l.gaveur_id, a.date_abattage,
               a.itm::float AS itm, a.sigma_g::float AS sigma_g, a.poids_foie_moyen_g::float AS poids_foie_moyen_g,
               a.taux_fonte_pct::float AS taux_fonte_pct,
               round(100.0 * l.nb_morts / l.nb_canards_entres, 2)::float AS mortalite_pct,
               round(100.0 * q.extra / NULLIF(q.total, 0), 1)::float AS pct_extra
        FROM lots_gavage l
        JOIN abattages a USING (lot_id)
        LEFT JOIN LATERAL (
            SELECT sum(nb_foies) FILTER (WHERE grade = 'Extra') AS extra, sum(nb_foies) AS total
            FROM qualite_foies WHERE lot_id = l.lot_id) q ON true
        WHERE l.site_code = ANY(:sites) AND a.date_abattage BETWEEN :debut AND :fin
        ORDER BY a.date_abattage, l.lot_id""", params)


def qualite_resume(source: Source, sites: Sequence[str] | str | None = None, debut: date | None = None,
                   fin: date | None = None) -> pd.DataFrame:
    """ITM and sigma distributions (mean and deciles) per site and souche."""
    params = validate_filters(source, sites, debut, fin)
    return read_df(source, """
        SELECT l.site_code, l.souche_code, count(*)::int AS nb_lots,
               round(avg(a.itm), 2)::float AS itm_moyen,
               percentile_cont(0.1) WITHIN GROUP (ORDER BY a.itm)::float AS itm_p10,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY a.itm)::float AS itm_p50,
               percentile_cont(0.9) WITHIN GROUP (ORDER BY a.itm)::float AS itm_p90,
               round(avg(a.sigma_g), 1)::float AS sigma_moyen_g,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY a.sigma_g)::float AS sigma_p50,
               percentile_cont(0.9) WITHIN GROUP (ORDER BY a.sigma_g)::float AS sigma_p90,
               round(avg(a.poids_foie_moyen_g), 1)::float AS poids_foie_moyen_g
        FROM lots_gavage l JOIN abattages a USING (lot_id)
        WHERE l.site_code = ANY(:sites) AND a.date_abattage BETWEEN :debut AND :fin
        GROUP BY l.site_code, l.souche_code
        ORDER BY l.site_code, l.souche_code""", params)


# The price parameter of each liver grade (any other grade: « Declasse »'s), for the lot calculator's margin (the
# finance indicators price the grades in SQL with the same parameters: sql/206).
GRADE_PRICES = {"Extra": "prix_foie_extra_eur_kg", "Premier choix": "prix_foie_premier_choix_eur_kg",
                "Second choix": "prix_foie_second_choix_eur_kg", "Declasse": "prix_foie_declasse_eur_kg"}
# Per-duck costs of a lot (EUR per duck entered), the corn apart (priced per kg eaten).
DUCK_COSTS = ("prix_canard_pag_eur", "cout_main_oeuvre_eur_canard", "cout_energie_eur_canard")
_COSTS = ("cout_canards_eur", "cout_mais_eur", "cout_main_oeuvre_eur", "cout_energie_eur", "cout_transport_eur")


def finance_indicateurs(source: Source, sites: Sequence[str] | str | None = None, debut: date | None = None,
                        fin: date | None = None, niveau: str = "site") -> pd.DataFrame:
    """Revenue, costs and margin per site (or per gaveur) and month, from the prices in ``prix_parametres``.

    Revenue: livers by grade at the grade price plus carcasses; costs: ready-to-fatten ducks,
    corn eaten, labour, energy, transport (round trip to the slaughterhouse). Months are those of
    slaughter. A price missing for a date gives NaN, never a made-up value. Each lot's parts are read from
    ``finance_lots``, which the database keeps exact as lots, slaughters, grades, distances and prices change
    (sql/206): the query sums rows, it prices nothing.
    """
    if niveau not in {"site", "gaveur"}:
        raise ValueError(f"niveau must be 'site' or 'gaveur', not {niveau!r}")
    params = validate_filters(source, sites, debut, fin)
    keys = ["f.site_code", "f.mois"] if niveau == "site" else ["f.site_code", "f.gaveur_id", "g.nom AS gaveur_nom",
                                                               "f.mois"]
    positions = ", ".join(str(i) for i in range(1, len(keys) + 1))
    parts = ", ".join(f"sum(f.{c})::float AS {c}" for c in ("revenu_foie_eur", "revenu_carcasse_eur", *_COSTS))
    # The join to gaveurs keeps the lots whose gaveur the user may read, as the per-lot query of sql/206 does.
    df = read_df(source, f"""
        SELECT {', '.join(keys)}, count(*)::int AS nb_lots, sum(f.nb_canards_abattus)::int AS nb_canards, {parts}
        FROM finance_lots f JOIN gaveurs g ON g.gaveur_id = f.gaveur_id
        WHERE f.site_code = ANY(:sites) AND f.date_abattage BETWEEN :debut AND :fin
        GROUP BY {positions} ORDER BY {positions}""", params)
    df["mois"] = pd.to_datetime(df["mois"])
    df["revenu_eur"] = df["revenu_foie_eur"] + df["revenu_carcasse_eur"]
    df["couts_eur"] = df[list(_COSTS)].sum(axis=1, min_count=len(_COSTS))
    df["marge_eur"] = df["revenu_eur"] - df["couts_eur"]
    df["marge_par_canard_eur"] = df["marge_eur"] / df["nb_canards"].where(df["nb_canards"] > 0)
    df["marge_pct"] = 100 * df["marge_eur"] / df["revenu_eur"].where(df["revenu_eur"] != 0)
    return df


def lot_features(source: Source, sites: Sequence[str] | str | None = None, debut: date | None = None,
                 fin: date | None = None) -> pd.DataFrame:
    """One row per lot (started in the period) with feeding-curve features and slaughter outcomes.

    Features: ``duree_jours`` (days of fattening), ``nb_repas``, ``dose_totale_kg`` (corn per duck),
    ``dose_moyenne_g``, ``dose_finale_g`` (mean of the last 4 meals), ``ecart_courbe_g`` (mean
    absolute deviation from the control curve), ``mortalite_pct``, ``jeune_h`` (fasting hours before
    slaughter). Outcomes (``poids_foie_moyen_g``, ``sigma_g``, ``itm``, …) are NaN for lots not slaughtered yet.
    """
    params = validate_filters(source, sites, debut, fin)
    return read_df(source, """
        WITH d AS (
            SELECT lot_id, dose_g, dose_theorique_g,
                   row_number() OVER (PARTITION BY lot_id ORDER BY horodatage DESC) AS depuis_fin
            FROM doses_gavage
            WHERE lot_id IN (SELECT lot_id FROM lots_gavage
                             WHERE site_code = ANY(:sites) AND debut BETWEEN :debut AND :fin)),
        agg AS (
            SELECT lot_id, count(*)::int AS nb_repas,
                   (sum(dose_g) / 1000.0)::float AS dose_totale_kg,
                   avg(dose_g)::float AS dose_moyenne_g,
                   (avg(dose_g) FILTER (WHERE depuis_fin <= 4))::float AS dose_finale_g,
                   avg(abs(dose_g - dose_theorique_g))::float AS ecart_courbe_g
            FROM d GROUP BY lot_id)
        SELECT l.lot_id, l.code_lot, l.site_code, l.gaveur_id, l.souche_code, l.debut, l.fin,
               l.nb_canards_entres, l.nb_morts,
               round(100.0 * l.nb_morts / l.nb_canards_entres, 3)::float AS mortalite_pct,
               l.poids_entree_moyen_kg::float AS poids_entree_moyen_kg,
               (l.fin - l.debut + 1) AS duree_jours,
               agg.nb_repas, agg.dose_totale_kg, agg.dose_moyenne_g, agg.dose_finale_g, agg.ecart_courbe_g,
               a.date_abattage, a.nb_canards_abattus,
               a.poids_foie_moyen_g::float AS poids_foie_moyen_g, a.sigma_g::float AS sigma_g,
               a.itm::float AS itm, a.taux_fonte_pct::float AS taux_fonte_pct, a.jeune_h::float AS jeune_h,
               a.mais_total_kg::float AS mais_total_kg, a.poids_foie_total_kg::float AS poids_foie_total_kg
        FROM lots_gavage l
        LEFT JOIN agg USING (lot_id)
        LEFT JOIN abattages a USING (lot_id)
        WHERE l.site_code = ANY(:sites) AND l.debut BETWEEN :debut AND :fin
        ORDER BY l.lot_id""", params)


def prices(source: Source, site: str, day: date) -> dict[str, float | None]:
    """Every price parameter in force on ``day`` for ``site`` (the site's row first, then the all-sites one, as
    the finance indicators price a lot: ``prix_a``), the rows the user may read; None when undefined."""
    df = read_df(source, """
        SELECT p.parametre, prix_a(p.parametre, :site, :day)::float AS valeur
        FROM (SELECT DISTINCT parametre FROM prix_parametres) p ORDER BY p.parametre""", {"site": site, "day": day})
    return {str(r.parametre): (None if pd.isna(r.valeur) else float(r.valeur)) for r in df.itertuples(index=False)}


def control_curve(source: Source, site: str, souche: str) -> pd.DataFrame:
    """The control curve (``dose_theorique_g`` per meal, g per duck) of the lots of a site × souche the user may
    read, averaged per number of meals and meal: columns ``nb_repas``, ``repas``, ``dose_theorique_g``, ``nb_lots``."""
    return read_df(source, """
        WITH n AS (SELECT lot_id, count(*) AS nb_repas FROM doses_gavage
                   WHERE lot_id IN (SELECT lot_id FROM lots_gavage WHERE site_code = :site AND souche_code = :souche)
                   GROUP BY lot_id)
        SELECT n.nb_repas::int AS nb_repas, d.repas::int AS repas, avg(d.dose_theorique_g)::float AS dose_theorique_g,
               count(*)::int AS nb_lots
        FROM doses_gavage d JOIN n USING (lot_id)
        GROUP BY n.nb_repas, d.repas ORDER BY n.nb_repas, d.repas""", {"site": site, "souche": souche})


def lot_grades(source: Source, site: str, souche: str) -> pd.DataFrame:
    """One row per slaughtered lot of a site × souche the user may read: liver weight, mortality, and per grade
    of :data:`GRADE_PRICES` its share of the livers (``part_<grade>``) and of their weight (``part_kg_<grade>``)."""
    colonnes = ", ".join(
        f"(sum(q.nb_foies) FILTER (WHERE q.grade = '{g}')::float / NULLIF(sum(q.nb_foies), 0))::float AS \"part_{g}\", "
        f"(sum(q.poids_kg) FILTER (WHERE q.grade = '{g}') / NULLIF(sum(q.poids_kg), 0))::float AS \"part_kg_{g}\""
        for g in GRADE_PRICES)
    df = read_df(source, f"""
        SELECT l.lot_id, a.poids_foie_moyen_g::float AS poids_foie_moyen_g,
               (100.0 * l.nb_morts / l.nb_canards_entres)::float AS mortalite_pct, {colonnes}
        FROM lots_gavage l JOIN abattages a USING (lot_id) JOIN qualite_foies q USING (lot_id)
        WHERE l.site_code = :site AND l.souche_code = :souche
        GROUP BY l.lot_id, a.poids_foie_moyen_g ORDER BY l.lot_id""", {"site": site, "souche": souche})
    return df.fillna({c: 0.0 for c in df.columns if c.startswith("part_")})


def site_souches(source: Source) -> list[tuple[str, str]]:
    """The (site, souche) pairs of the lots the user may read (a gaveur: his own), in order."""
    df = read_df(source, "SELECT DISTINCT site_code, souche_code FROM lots_gavage ORDER BY site_code, souche_code")
    return [(str(s), str(so)) for s, so in df.itertuples(index=False)]
