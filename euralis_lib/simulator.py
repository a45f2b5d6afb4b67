"""Realistic, deterministic simulator of the three sites, with planted truths for model validation.

Same ``(years, seed, end)`` → same data. What is planted (stored in ``simulation_verites``):

* ``formule``: per site × souche, the liver weight of a lot is
  ``constante + b·dose_totale_kg + q·dose_totale_kg² + d·ecart_courbe_g + f·jeune_h`` plus Gaussian
  noise. ``q < 0``: the response to corn saturates (its vertex lies just above the highest doses, so
  the curve flattens inside the observed range and a straight line does not absorb it); ``d < 0``:
  feeding off the control curve costs liver weight; ``f < 0``: fasting hours before slaughter cost
  liver weight (domain: ~8 g per hour, 723 g after 9 h vs 675 g after 15 h).
* ``archetype``: each gaveur follows one of four archetypes (regularity, mortality, lot size).
* ``anomalie``: lots made anomalous on purpose (mortality spike, feeding cut, heterogeneous livers).
  They are only in the truths: no production table marks them.
* ``saisonnalite``: autumn peak of activity (lots start more often and are larger) and the
  post-Christmas trough (few lots start between Christmas and the end of January).
* ``arret_sanitaire``: one site stopped for six weeks (no ducks on site).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from euralis_lib.database.db import connect, copy_dataframe
from euralis_lib.exceptions import DataLoadError

# Simulation assumptions per site code; the sites and souches themselves (names, capacities) are
# reference data seeded by sql/100_reference_seed.sql, which load() checks are present.
SOUCHES_PAR_SITE = {"LL": ["MULARD", "BARBARIE"], "LS": ["MULARD", "HYBRIDE"],
                    "MT": ["MULARD", "BARBARIE", "HYBRIDE"]}
GAVEURS_PAR_SITE = {"LL": 32, "LS": 28, "MT": 30}
MULARD_PART = 0.6

# Gaveur archetypes: mean deviation from the control curve (g), mortality (%), lot size range,
# sigma of livers at zero deviation (g).
ARCHETYPES = {
    "excellent": {"ecart_g": 6.0, "mortalite_pct": 1.0, "taille": (300, 2000), "sigma_base_g": 55.0},
    "confirme": {"ecart_g": 16.0, "mortalite_pct": 2.2, "taille": (300, 2000), "sigma_base_g": 70.0},
    "a_accompagner": {"ecart_g": 32.0, "mortalite_pct": 4.2, "taille": (150, 1600), "sigma_base_g": 88.0},
    "grand_volume": {"ecart_g": 16.0, "mortalite_pct": 2.2, "taille": (2400, 3100), "sigma_base_g": 70.0},
}
ARCHETYPE_PARTS = {"excellent": 0.25, "confirme": 0.35, "a_accompagner": 0.2, "grand_volume": 0.2}

SAISON_AMPLITUDE = 0.35
SAISON_JOUR_PIC = 305  # early November: lots started then are slaughtered in the pre-Christmas peak
# Post-Christmas trough: a lot due to start between these days (month, day) starts only with this
# probability (otherwise a week later), so January slaughters fall well below December's.
CREUX_FETES = ((12, 20), (2, 5), 0.25)
ANOMALIE_PART = 0.025
BRUIT_FOIE_G = 4.0
# Fasting before slaughter: the last meal is at 18 h, slaughter the next day between these hours.
HEURES_ABATTAGE = (2.0, 12.0)
# Taux de fonte (cooking fat loss, %): centred in the 20–27 % reference range, rising with liver weight.
FONTE_CENTRE_PCT = 23.5
FONTE_PENTE_PCT_G = 0.03
FONTE_POIDS_REF_G = 620.0
JOURS_ARRET = 42

NOMS = ("Lafitte Laborde Dufau Lacoste Darrigade Castaing Labat Dupouy Lassalle Cazenave Bordes Lamarque "
        "Hourcade Sarraute Pédebernade Capdevielle Lartigue Baradat Marsan Peyrot Dubos Lanusse Ducasse "
        "Barrère Soubiran Abadie Lalanne Cassou Dartiguelongue Larrieu Mirande Pujol Haurie Bergès Tauzin "
        "Candau Dulucq Lagardère Cazaux Lasserre Labarthe Broca Daugreilh Estrade Fourcade Gaye Junca "
        "Lacaze Menjoulet Nogaro").split()
PRENOMS = ("Jean Pierre Marie Michel Anne Philippe Sylvie Christian Hélène Bernard Isabelle Alain "
           "Nathalie Patrick Sophie Thierry Céline Laurent Martine Éric").split()


@dataclass
class SimulatedData:
    """All generated tables (DataFrames shaped like the database tables) and the planted truths."""

    gaveurs: pd.DataFrame
    lots: pd.DataFrame
    doses: pd.DataFrame
    abattages: pd.DataFrame
    qualite: pd.DataFrame
    alertes: pd.DataFrame
    prix: pd.DataFrame
    verites: pd.DataFrame
    parametres: dict = field(default_factory=dict)

    def truths(self, genre: str) -> dict:
        """Planted truths of one kind, as ``{cle: valeur}``."""
        rows = self.verites[self.verites["genre"] == genre]
        return dict(zip(rows["cle"], rows["valeur"], strict=True))

    def row_counts(self) -> dict[str, int]:
        """Rows per table."""
        return {name: len(df) for name, df in self._tables().items()}

    def _tables(self) -> dict[str, pd.DataFrame]:
        return {"gaveurs": self.gaveurs,
                "prix_parametres": self.prix, "lots_gavage": self.lots, "doses_gavage": self.doses,
                "abattages": self.abattages, "qualite_foies": self.qualite, "alertes": self.alertes,
                "simulation_verites": self.verites}


def _saison(d: date) -> float:
    """Seasonal activity multiplier (1 ± amplitude, peak at SAISON_JOUR_PIC)."""
    doy = d.timetuple().tm_yday
    return 1.0 + SAISON_AMPLITUDE * math.cos(2 * math.pi * (doy - SAISON_JOUR_PIC) / 365.25)


def _en_creux(d: date) -> bool:
    """True inside the post-Christmas trough (CREUX_FETES)."""
    (m0, j0), (m1, j1), _ = CREUX_FETES
    return (d.month, d.day) >= (m0, j0) or (d.month, d.day) <= (m1, j1)


def _formules(rng: np.random.Generator) -> dict[str, dict]:
    """Planted liver-weight law per site × souche: saturating in corn, falling with deviation and fasting."""
    pente_8kg = {"MULARD": 46.0, "BARBARIE": 40.0, "HYBRIDE": 43.0}  # g of liver per kg of corn at 8 kg
    formules = {}
    for site, souches in SOUCHES_PAR_SITE.items():
        for souche in souches:
            sommet = rng.uniform(10.2, 11.0)  # kg of corn where the response would stop rising
            q = -round((pente_8kg[souche] + rng.uniform(-3, 3)) / (2 * (sommet - 8.0)), 2)
            b = round(-2 * q * sommet, 1)
            d = -round(rng.uniform(1.5, 2.5), 2)
            f = -round(rng.uniform(6.0, 9.0), 2)
            centre = b * 8.5 + q * 8.5 ** 2 + d * 16 + f * 13  # a typical lot: 8.5 kg, 16 g off, 13 h fasting
            constante = round(640 - centre + rng.uniform(-20, 20), 0)
            formules[f"{site}/{souche}"] = {
                "cible": "poids_foie_moyen_g",
                "expression": "constante + b*dose_totale_kg + q*dose_totale_kg**2 + d*ecart_courbe_g + f*jeune_h",
                "coefficients": {"constante": constante, "dose_totale_kg": b, "dose_totale_kg**2": q,
                                 "ecart_courbe_g": d, "jeune_h": f},
                "bruit_sd_g": BRUIT_FOIE_G,
            }
    return formules


def _gaveurs(rng: np.random.Generator) -> tuple[pd.DataFrame, dict[int, str]]:
    rows, archetypes = [], {}
    gaveur_id = 0
    names = rng.permutation([f"{p} {n}" for n in NOMS for p in PRENOMS])
    for site, n in GAVEURS_PAR_SITE.items():
        kinds = rng.choice(list(ARCHETYPE_PARTS), size=n, p=list(ARCHETYPE_PARTS.values()))
        for i in range(n):
            gaveur_id += 1
            archetypes[gaveur_id] = str(kinds[i])
            rows.append({"gaveur_id": gaveur_id, "code": f"{site}-G{i + 1:03d}", "nom": str(names[gaveur_id]),
                         "site_code": site, "distance_km": round(float(rng.uniform(5, 85)), 1),
                         "actif": True, "origine": "simulation"})
    return pd.DataFrame(rows), archetypes


def _courbe(rng: np.random.Generator, nb_repas: int, fin_g: float, ecart_g: float,
            coupure: bool) -> tuple[np.ndarray, np.ndarray]:
    """Control curve (from ~200 g to ``fin_g``) and actual doses (g per duck) for each meal of a lot."""
    m = np.arange(nb_repas) / max(nb_repas - 1, 1)
    debut_g = rng.uniform(190, 215)
    theorique = np.round(debut_g + (fin_g - debut_g) * m ** 0.4, 0)
    # Deviation from the control curve: the gaveur's habit (half-normal around its archetype level).
    ecarts = rng.normal(0.0, ecart_g * math.sqrt(math.pi / 2), nb_repas)
    doses = theorique + ecarts
    if coupure:  # planted anomaly: doses cut by ~45 % for several consecutive meals
        start = int(rng.integers(nb_repas // 3, nb_repas - 6))
        doses[start:start + int(rng.integers(5, 7))] *= 0.55
    return theorique, np.round(np.clip(doses, 60, 900), 0)


def simulate(years: int = 3, seed: int = 42, end: date | None = None) -> SimulatedData:
    """Generate ``years`` of production ending at ``end`` (default today), deterministic for a seed."""
    if years < 1 or years > 20:
        raise ValueError(f"years must be between 1 and 20, not {years}")
    end = end or date.today()
    start = end - timedelta(days=int(round(365.25 * years)))
    rng = np.random.default_rng(seed)
    formules = _formules(rng)
    gaveurs, archetypes = _gaveurs(rng)
    gaveur_ecart = {g: ARCHETYPES[a]["ecart_g"] * rng.uniform(0.85, 1.15) for g, a in archetypes.items()}
    gaveur_mort = {g: ARCHETYPES[a]["mortalite_pct"] * rng.uniform(0.85, 1.15) for g, a in archetypes.items()}
    gaveur_fin_g = {g: rng.uniform(400, 470) for g in archetypes}  # each gaveur's final dose habit

    arret_site = "LS"
    arret_debut = start + timedelta(days=int(365.25 * years * 0.55))
    arret_fin = arret_debut + timedelta(days=JOURS_ARRET - 1)

    lots, doses_parts, abattages, qualite, alertes, verites_anom = [], [], [], [], [], {}
    lot_id = 0
    for g in gaveurs.itertuples(index=False):
        archetype = ARCHETYPES[archetypes[g.gaveur_id]]
        souches = SOUCHES_PAR_SITE[g.site_code]
        weights = [MULARD_PART] + [(1 - MULARD_PART) / (len(souches) - 1)] * (len(souches) - 1)
        souche = str(rng.choice(souches, p=weights))  # a gaveur works mostly with one line
        day = start + timedelta(days=int(rng.integers(0, 28)))
        while day <= end:
            if _en_creux(day) and rng.random() > CREUX_FETES[2]:
                day += timedelta(days=7)
                continue
            duree = int(rng.choice([10, 11, 12, 13], p=[0.2, 0.45, 0.25, 0.1]))
            if (day + timedelta(days=duree)).weekday() == 6:  # no slaughter on Sundays: one meal day more or less
                duree += 1 if duree < 13 else -1
            fin = day + timedelta(days=duree)
            if g.site_code == arret_site and day <= arret_fin and fin >= arret_debut:
                day = arret_fin + timedelta(days=int(rng.integers(1, 10)))
                continue
            lot_id += 1
            lot_souche = souche if rng.random() < 0.85 else str(rng.choice(souches))
            s = _saison(day)
            lo, hi = archetype["taille"]
            nb = int(min(rng.uniform(lo, hi) * (0.85 + 0.15 * s), 3200))
            anomalie = str(rng.choice(["mortalite", "alimentation", "sigma"])) if rng.random() < ANOMALIE_PART else None
            if anomalie:
                verites_anom[str(lot_id)] = {"type": anomalie}
            nb_repas = 2 * duree
            theorique, dose = _courbe(rng, nb_repas, gaveur_fin_g[g.gaveur_id] + rng.normal(0, 10),
                                      gaveur_ecart[g.gaveur_id], anomalie == "alimentation")
            poids_entree = round(float(rng.uniform(3.8, 4.5)), 3)
            mort_pct = (rng.uniform(12, 18) if anomalie == "mortalite"
                        else gaveur_mort[g.gaveur_id] * rng.uniform(0.7, 1.3))
            nb_morts = int(rng.binomial(nb, mort_pct / 100))
            lots.append({"lot_id": lot_id, "code_lot": f"{g.site_code}{day:%y%m%d}-{g.code[-4:]}",
                         "site_code": g.site_code, "gaveur_id": g.gaveur_id, "souche_code": lot_souche,
                         "debut": day, "fin": fin - timedelta(days=1), "nb_canards_entres": nb, "nb_morts": nb_morts,
                         "poids_entree_moyen_kg": poids_entree, "origine": "simulation"})
            heures = np.where(np.arange(nb_repas) % 2 == 0, 6, 18)
            meals = (pd.Timestamp(day) + pd.to_timedelta(np.arange(nb_repas) // 2, unit="D")
                     + pd.to_timedelta(heures, unit="h")).tz_localize("Europe/Paris")
            keep = meals.date <= end
            doses_parts.append(pd.DataFrame({
                "horodatage": meals[keep], "lot_id": lot_id, "jour": (np.arange(nb_repas) // 2 + 1)[keep],
                "repas": np.arange(1, nb_repas + 1)[keep], "dose_g": dose[keep], "dose_theorique_g": theorique[keep]}))
            date_abattage = fin
            if date_abattage <= end:
                dose_totale_kg = float(dose.sum()) / 1000
                ecart = float(np.abs(dose - theorique).mean())
                jeune_h = round(24 - 18 + float(rng.uniform(*HEURES_ABATTAGE)), 1)
                coef = formules[f"{g.site_code}/{lot_souche}"]["coefficients"]
                poids_foie = (coef["constante"] + coef["dose_totale_kg"] * dose_totale_kg
                              + coef["dose_totale_kg**2"] * dose_totale_kg ** 2
                              + coef["ecart_courbe_g"] * ecart + coef["jeune_h"] * jeune_h
                              + rng.normal(0, BRUIT_FOIE_G))
                sigma = archetype["sigma_base_g"] + 0.8 * ecart + rng.normal(0, 4)
                if anomalie == "sigma":
                    sigma *= rng.uniform(2.3, 2.8)
                abattus = nb - nb_morts
                fonte = (FONTE_CENTRE_PCT + FONTE_PENTE_PCT_G * (poids_foie - FONTE_POIDS_REF_G)
                         + float(rng.normal(0, 1.0)))
                abattages.append({"lot_id": lot_id, "date_abattage": date_abattage, "nb_canards_abattus": abattus,
                                  "poids_foie_moyen_g": round(poids_foie, 1), "sigma_g": round(max(sigma, 15), 1),
                                  "mais_total_kg": round(dose_totale_kg * (nb - nb_morts / 2), 1),
                                  "taux_fonte_pct": round(fonte, 1), "jeune_h": jeune_h})
                qualite.extend(_grades(rng, lot_id, abattus, poids_foie, sigma, fonte))
                alertes.extend(_alertes_lot(lot_id, g, date_abattage, 100 * nb_morts / nb))
            day = fin + timedelta(days=int(round(rng.uniform(10, 24) / s)))

    lots_df = pd.DataFrame(lots)
    verites = _verites(formules, archetypes, verites_anom, arret_site, arret_debut, arret_fin)
    return SimulatedData(
        gaveurs=gaveurs, lots=lots_df,
        doses=pd.concat(doses_parts, ignore_index=True), abattages=pd.DataFrame(abattages),
        qualite=pd.DataFrame(qualite), alertes=pd.DataFrame(alertes), prix=_prix(rng, start, end),
        verites=verites, parametres={"years": years, "seed": seed, "end": end.isoformat()})


def _grades(rng: np.random.Generator, lot_id: int, abattus: int, poids_g: float, sigma: float,
            fonte: float) -> list[dict]:
    extra = float(np.clip(0.62 - 0.003 * (sigma - 60) - 0.012 * (fonte - 21) + rng.normal(0, 0.03), 0.05, 0.9))
    second = float(np.clip(0.08 + 0.002 * (sigma - 60) + 0.008 * (fonte - 21), 0.02, 0.5))
    declasse = float(np.clip(0.01 + 0.0008 * (sigma - 60), 0.0, 0.2))
    premier = max(0.0, 1 - extra - second - declasse)
    counts = rng.multinomial(abattus, [extra, premier, second, declasse]) if abattus else [0, 0, 0, 0]
    factors = [1.03, 1.0, 0.96, 0.85]
    grades = ("Extra", "Premier choix", "Second choix", "Declasse")
    return [{"lot_id": lot_id, "grade": grade, "nb_foies": int(n), "poids_kg": round(n * poids_g * f / 1000, 2)}
            for grade, n, f in zip(grades, counts, factors, strict=True)]


def _alertes_lot(lot_id: int, g, jour: date, mortalite_pct: float) -> list[dict]:
    """Alerts a site would raise itself from what it measures (never from the planted truths)."""
    alerts = []
    when = pd.Timestamp(jour, tz="Europe/Paris") + pd.Timedelta(hours=8)
    if mortalite_pct > 3.0:
        severite = "critique" if mortalite_pct > 6.0 else "attention"
        alerts.append({"horodatage": when, "site_code": g.site_code, "gaveur_id": g.gaveur_id, "lot_id": lot_id,
                       "type": "mortalite", "severite": severite,
                       "message": f"Mortalité de {mortalite_pct:.1f} % sur le lot".replace(".", ","),
                       "source": "simulateur", "cle_dedup": f"mortalite:{lot_id}"})
    return alerts


def _prix(rng: np.random.Generator, start: date, end: date) -> pd.DataFrame:
    """Monthly price parameters (EUR) with slow drift and a seasonal liver price."""
    base = {"prix_foie_extra_eur_kg": (31.0, "EUR/kg"), "prix_foie_premier_choix_eur_kg": (27.0, "EUR/kg"),
            "prix_foie_second_choix_eur_kg": (20.0, "EUR/kg"), "prix_foie_declasse_eur_kg": (9.0, "EUR/kg"),
            "prix_carcasse_eur_canard": (5.5, "EUR/canard"), "prix_canard_pag_eur": (10.5, "EUR/canard"),
            "prix_mais_eur_kg": (0.31, "EUR/kg"), "cout_main_oeuvre_eur_canard": (2.8, "EUR/canard"),
            "cout_energie_eur_canard": (0.45, "EUR/canard"), "cout_transport_eur_km": (1.8, "EUR/km")}
    months = pd.date_range(pd.Timestamp(start).to_period("M").to_timestamp(), end, freq="MS")
    rows = []
    for name, (value, unit) in base.items():
        drift = np.cumsum(rng.normal(0.0, 0.01, len(months)))
        for month, dr in zip(months, drift, strict=True):
            season = 1 + (0.06 * math.cos(2 * math.pi * (month.month - 11) / 12) if name.startswith("prix_foie") else 0)
            rows.append({"parametre": name, "site_code": None, "valide_du": month.date(),
                         "valeur": round(value * season * (1 + dr), 4), "unite": unit})
    return pd.DataFrame(rows)


def _verites(formules: dict, archetypes: dict, anomalies: dict, site: str, debut: date, fin: date) -> pd.DataFrame:
    rows = [("formule", k, v) for k, v in formules.items()]
    rows += [("archetype", str(g), {"archetype": a}) for g, a in archetypes.items()]
    rows += [("anomalie", k, v) for k, v in anomalies.items()]
    (m0, j0), (m1, j1), part = CREUX_FETES
    rows.append(("saisonnalite", "production", {"amplitude": SAISON_AMPLITUDE, "jour_pic": SAISON_JOUR_PIC,
                                                "creux_debut": f"{m0:02d}-{j0:02d}", "creux_fin": f"{m1:02d}-{j1:02d}",
                                                "creux_part": part,
                                                "description": "activité maximale à l'automne, creux après Noël"}))
    rows.append(("arret_sanitaire", site, {"debut": debut.isoformat(), "fin": fin.isoformat()}))
    return pd.DataFrame(rows, columns=["genre", "cle", "valeur"])


_DATA_TABLES = ("qualite_foies", "abattages", "alertes", "doses_gavage", "lots_gavage", "gaveurs",
                "prix_parametres", "simulation_verites")


def database_is_empty(engine: Engine) -> bool:
    """True when no lot is stored yet."""
    with connect(engine) as conn:
        return conn.execute(sa.text("SELECT NOT EXISTS (SELECT 1 FROM lots_gavage)")).scalar_one()


def _check_reference(conn: sa.Connection, data: SimulatedData) -> None:
    """Refuse simulated data using sites or souches the database's reference tables do not have."""
    sites = set(conn.execute(sa.text("SELECT code FROM sites")).scalars())
    souches = set(conn.execute(sa.text("SELECT code FROM souches")).scalars())
    manque_sites = sorted(set(data.gaveurs["site_code"]) - sites)
    manque_souches = sorted(set(data.lots["souche_code"]) - souches) if not data.lots.empty else []
    if manque_sites or manque_souches:
        raise DataLoadError(
            "The simulated data uses reference rows this database does not have "
            f"(sites: {', '.join(manque_sites) or '-'}; souches: {', '.join(manque_souches) or '-'}). "
            "Apply the migrations ('python -m euralis_lib migrate') or add them to the sites/souches tables.")


def load(engine: Engine, data: SimulatedData, replace: bool = False) -> dict[str, int]:
    """Load simulated data with COPY, in one transaction. Refuses a non-empty database unless ``replace``.

    ``replace`` deletes the data tables (and job results that reference them) first, in the same
    transaction: on any error nothing changes.
    """
    import json

    with connect(engine, transaction=True) as conn:
        has_data = conn.execute(sa.text("SELECT EXISTS (SELECT 1 FROM lots_gavage)")).scalar_one()
        if has_data and not replace:
            raise DataLoadError("The database already holds lots: nothing was loaded. "
                                "Use 'simulate --replace' to replace all production data with simulated data.")
        if has_data:
            conn.execute(sa.text("TRUNCATE job_runs, " + ", ".join(_DATA_TABLES) + " CASCADE"))
        _check_reference(conn, data)
        counts = {}
        for table, df in data._tables().items():
            if df.empty:
                counts[table] = len(df)
                continue
            if table == "simulation_verites":
                df = df.assign(valeur=df["valeur"].map(json.dumps))
            counts[table] = copy_dataframe(conn, table, df)
        conn.execute(sa.text("SELECT refresh_performances_sites()"))
    return counts


def planted_truths(engine: Engine) -> dict[str, dict[str, dict]]:
    """Truths planted by the simulator, read back from the database: ``{genre: {cle: valeur}}``."""
    from euralis_lib.database.db import read_df

    df = read_df(engine, "SELECT genre, cle, valeur FROM simulation_verites ORDER BY genre, cle")
    out: dict[str, dict[str, dict]] = {}
    for row in df.itertuples(index=False):
        out.setdefault(row.genre, {})[row.cle] = row.valeur
    return out
