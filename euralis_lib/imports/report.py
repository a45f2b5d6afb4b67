"""The import report: counts, first errors with their line numbers and how to fix them (French, text or HTML)."""

from __future__ import annotations

from dataclasses import dataclass, field

from euralis_lib.presentation.markup import Markup, element, join

MAX_ERREURS_AFFICHEES = 20

_CONSEILS = (
    ("lot inconnu", "Importez d'abord le fichier des lots (ordre : gaveurs → lots → doses → abattages)."),
    ("gaveur inconnu", "Importez d'abord le fichier des gaveurs (ordre : gaveurs → lots → doses → abattages)."),
    ("site inconnu", "Les sites connus sont listés dans le message ; corrigez le code du site."),
    ("hors de la plage", "Vérifiez l'unité de la colonne (g, kg, %) et la valeur saisie."),
    ("n'est pas", "Corrigez le format de la valeur (nombres avec virgule ou point, dates JJ/MM/AAAA)."),
    ("doublon dans le fichier", "Gardez une seule ligne par clé (code du lot, repas…) avec les bonnes valeurs."),
    ("futur", "Vérifiez l'année de la date."),
)

_STATUTS = {"succes": "réussi", "partiel": "partiel, des lignes sont rejetées"}


@dataclass
class ImportReport:
    """What an import did (or would do, in a dry run)."""

    genre: str
    fichier: str
    sha256: str
    site: str | None
    dry_run: bool
    nb_lus: int = 0
    nb_inseres: int = 0
    nb_mis_a_jour: int = 0
    nb_inchanges: int = 0
    nb_doublons: int = 0
    doublons: list[int] = field(default_factory=list)  # lines repeating an earlier line exactly
    par_table: dict[str, dict[str, int]] = field(default_factory=dict)  # rows written per table
    modifications: list[str] = field(default_factory=list)  # first updated rows, old → new
    erreurs: list[tuple[int, str]] = field(default_factory=list)  # (line, reason), sorted by line
    avertissements: list[str] = field(default_factory=list)
    import_id: int | None = None
    duree_s: float = 0.0

    @property
    def nb_rejetes(self) -> int:
        """Rows quarantined."""
        return len(self.erreurs)

    @property
    def statut(self) -> str:
        """'succes' when every row was accepted, 'partiel' otherwise."""
        return "partiel" if self.erreurs else "succes"

    @property
    def code_sortie(self) -> int:
        """Exit code of the command line: 0 when nothing was rejected, 1 otherwise."""
        return 1 if self.erreurs else 0

    def conseils(self) -> list[str]:
        """How to fix the rejected rows, from the kinds of errors seen."""
        vus = " ".join(r for _, r in self.erreurs)
        conseils = [c for motif, c in _CONSEILS if motif in vus]
        if self.erreurs:
            ou = (f"table imports_quarantaine, import n° {self.import_id}" if self.import_id is not None
                  else "rien n'a été écrit : simulation")
            conseils.append(f"Les lignes rejetées sont conservées ({ou}). Corrigez-les puis réimportez le fichier "
                            "entier : les lignes déjà importées seront comptées « inchangées ».")
        return conseils

    def lignes_resume(self) -> list[str]:
        """The counts, one line each."""
        return [f"lignes lues        : {self.nb_lus}", f"insérées           : {self.nb_inseres}",
                f"mises à jour       : {self.nb_mis_a_jour}", f"inchangées         : {self.nb_inchanges}",
                f"doublons (ignorés) : {self.nb_doublons}", f"rejetées           : {self.nb_rejetes}"]

    def lignes_changements(self) -> list[str]:
        """Rows written per table, exact repeats inside the file, and the first corrections old → new."""
        lignes = [f"{table} : " + ", ".join(f"{n} {quoi}" for quoi, n in c.items())
                  for table, c in self.par_table.items() if any(c.values())]
        if self.doublons:
            cites = ", ".join(str(n) for n in self.doublons[:MAX_ERREURS_AFFICHEES])
            suite = " …" if len(self.doublons) > MAX_ERREURS_AFFICHEES else ""
            lignes.append(f"doublons exacts d'une ligne précédente du fichier (enregistrés une fois) : "
                          f"ligne(s) {cites}{suite}")
        if self.modifications:
            lignes.append("Modifications (ancien → nouveau) :")
            lignes += [f"  {m}" for m in self.modifications]
        return lignes

    def titre(self) -> str:
        """One-line summary."""
        mode = "SIMULATION (--dry-run) : rien n'a été écrit. " if self.dry_run else ""
        numero = f" (import n° {self.import_id})" if self.import_id is not None else ""
        site = f", site {self.site}" if self.site else ""
        statut = _STATUTS[self.statut]
        return f"{mode}Import « {self.genre} » de {self.fichier}{site}{numero} : {statut}, {self.duree_s:.1f} s"

    def texte(self) -> str:
        """The report as plain text (command line)."""
        lignes = [self.titre(), *("  " + ligne for ligne in self.lignes_resume())]
        lignes += [f"attention : {a}" for a in self.avertissements]
        lignes += self.lignes_changements()
        if self.erreurs:
            lignes.append(f"Premières erreurs ({min(len(self.erreurs), MAX_ERREURS_AFFICHEES)} sur "
                          f"{len(self.erreurs)}) :")
            lignes += [f"  ligne {n} : {r}" for n, r in self.erreurs[:MAX_ERREURS_AFFICHEES]]
            lignes.append("Comment corriger :")
            lignes += [f"  - {c}" for c in self.conseils()]
        return "\n".join(lignes)

    def html(self) -> Markup:
        """The report as HTML (upload widget), every value from the file escaped."""
        genre = "erreur" if self.erreurs else "info"
        resume = (element("tr", element("th", k.strip()), element("td", v.strip()))
                  for k, v in (ligne.split(":", 1) for ligne in self.lignes_resume()))
        parts = [element("div", element("b", self.titre()), class_=f"euralis-message {genre}"),
                 element("table", *resume, class_="euralis")]
        parts += [element("div", a, class_="euralis-message info") for a in self.avertissements]
        if self.lignes_changements():
            parts.append(element("pre", "\n".join(self.lignes_changements())))
        if self.erreurs:
            lignes = (element("tr", element("td", n), element("td", r, style="text-align:left"))
                      for n, r in self.erreurs[:MAX_ERREURS_AFFICHEES])
            parts += [element("p", f"Premières erreurs ({min(len(self.erreurs), MAX_ERREURS_AFFICHEES)} sur "
                                   f"{len(self.erreurs)}) :"),
                      element("table", element("tr", element("th", "Ligne"), element("th", "Raison")), *lignes,
                              class_="euralis"),
                      element("p", "Comment corriger :"), element("ul", *(element("li", c) for c in self.conseils()))]
        return join(parts)
