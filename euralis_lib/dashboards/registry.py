"""The page registry: one :class:`PageSpec` line per dashboard page, read by the navigation bar, the landing page,
the kernel pools and the tests. Imports nothing heavy."""

from __future__ import annotations

from dataclasses import dataclass

from euralis_lib.auth import ROLES


@dataclass(frozen=True)
class PageSpec:
    """One dashboard page: URL slug, title in the navigation bar, description on the landing page, the
    roles that may open it (with login; the database enforces the rows and writes either way), ``pool``:
    preheated kernels kept ready for it (None: the server's ``--pool_size``), more for the pages opened first,
    and ``rapport``: whether it offers « Rapport PDF de cette page » (every data page)."""

    slug: str
    titre: str
    description: str
    module: str = ""
    roles: tuple[str, ...] = ROLES
    pool: int | None = None
    rapport: bool = True

    @property
    def nom_module(self) -> str:
        """The page module under ``euralis_lib.dashboards`` (the slug unless it is a Python keyword)."""
        return self.module or self.slug


PAGES: tuple[PageSpec, ...] = (
    PageSpec("accueil", "Accueil", "Toutes les pages et l'état des calculs.", pool=2, rapport=False),
    PageSpec("tableau_de_bord", "Tableau de bord", "Production, lots et gaveurs actifs, alertes critiques, tendances.",
             pool=3),
    PageSpec("sites", "Sites de Production", "Comparaison des sites, exploration site → gaveurs → lots."),
    PageSpec("gaveurs", "Gaveurs", "Performances, groupes de gaveurs, comparaison à la moyenne du site."),
    PageSpec("previsions", "Prévisions", "Prévisions de production à 7, 30 et 90 jours."),
    PageSpec("qualite", "Qualité", "ITM et sigma par site et souche, formules de poids de foie, lots anormaux."),
    PageSpec("abattages", "Abattages", "Plan d'abattage, capacité utilisée, hongrois contre glouton."),
    PageSpec("finance", "Finance", "Chiffre d'affaires, coûts et marges par site et par mois."),
    PageSpec("simulateur", "Simulateur de lot", "Poids de foie, ITM, grades et marge prédits pour un lot, avec leur "
             "intervalle à 80 %."),
    PageSpec("rapports", "Rapports", "Rapports hebdomadaires en PDF (par site, par gaveur), selon vos droits.",
             rapport=False),
    PageSpec("import", "Import", "Importer des fichiers des sites (gaveurs, lots, doses, abattages), avec rapport "
             "et quarantaine.", module="import_fichiers", roles=("admin",), rapport=False),
    PageSpec("alertes", "Alertes", "Centre d'alertes : filtrer, lire, acquitter ; fausses alertes par règle."),
    PageSpec("ops", "Ops", "Jobs planifiés, prochains runs, sauvegardes, durées et échecs.",
             roles=("admin", "superviseur")),
    PageSpec("administration", "Administration", "Utilisateurs, capacités d'abattage et prix (administrateurs).",
             roles=("admin",)),
)


def page_spec(slug: str) -> PageSpec:
    """The registered page ``slug`` (KeyError naming the known pages otherwise)."""
    for spec in PAGES:
        if spec.slug == slug:
            return spec
    raise KeyError(f"unknown page {slug!r}: known pages are {', '.join(p.slug for p in PAGES)}")
