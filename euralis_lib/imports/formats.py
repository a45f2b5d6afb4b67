"""File formats accepted by the imports: one :class:`Format` per kind, its columns documented in French.

Users know codes, not database ids: files name sites, gaveurs and lots by their codes
(``site``, ``code_gaveur``, ``code_lot``). Ranges are the database constraints, narrowed where the
domain (docs: domain.md §2) makes a value certainly wrong (a meal above 900 g, a liver under the
legal 300 g). Import order: gaveurs → lots → doses → abattages.
"""

from __future__ import annotations

from dataclasses import dataclass

GRADES = {"extra": "Extra", "premier_choix": "Premier choix", "second_choix": "Second choix",
          "declasse": "Declasse"}


@dataclass(frozen=True)
class Colonne:
    """One column of a file format."""

    nom: str
    type: str  # texte, entier, decimal, date, horodatage, booleen
    obligatoire: bool
    description: str
    exemple: str
    mini: float | None = None
    maxi: float | None = None
    unite: str = ""
    motif: str | None = None  # regular expression a text value must match

    def plage(self) -> str:
        """The allowed range in words (French), empty when unbounded."""
        if self.mini is not None and self.maxi is not None:
            return f"{_nombre(self.mini)} à {_nombre(self.maxi)}"
        if self.mini is not None:
            return f"≥ {_nombre(self.mini)}"
        if self.maxi is not None:
            return f"≤ {_nombre(self.maxi)}"
        return ""


def _nombre(x: float) -> str:
    return (f"{x:g}").replace(".", ",")


@dataclass(frozen=True)
class Format:
    """A file format: kind, target table, natural key and documented columns."""

    genre: str
    titre: str
    description: str
    table: str
    cle: tuple[str, ...]
    colonnes: tuple[Colonne, ...]

    @property
    def noms(self) -> list[str]:
        """Column names in file order."""
        return [c.nom for c in self.colonnes]

    @property
    def obligatoires(self) -> list[str]:
        """Names of the required columns."""
        return [c.nom for c in self.colonnes if c.obligatoire]

    def colonne(self, nom: str) -> Colonne:
        """The column called ``nom``."""
        return next(c for c in self.colonnes if c.nom == nom)


_EXEMPLES_GRADES = {"extra": ("700", "430,5"), "premier_choix": ("400", "240"), "second_choix": ("60", "33"),
                    "declasse": ("15", "7,5")}
_SITE = Colonne("site", "texte", True, "Code du site (LL, LS, MT). Facultatif avec l'option --site.", "LL",
                motif=r"^[A-Z]{2}$")
_CODE_LOT = Colonne("code_lot", "texte", True, "Code du lot de gavage, unique dans la coopérative.",
                    "LL260105-G001")

FORMATS: dict[str, Format] = {f.genre: f for f in (
    Format("gaveurs", "Gaveurs", "Un gaveur par ligne, rattaché à un site.", "gaveurs", ("code_gaveur",), (
        Colonne("code_gaveur", "texte", True, "Code du gaveur, unique (par ex. LL-G001).", "LL-G001"),
        Colonne("nom", "texte", True, "Nom et prénom du gaveur.", "Lafitte Jean"),
        _SITE,
        Colonne("distance_km", "decimal", True, "Distance de l'élevage à l'abattoir du site.", "12,5",
                0, 500, "km"),
        Colonne("actif", "booleen", False, "oui/non (vide = oui).", "oui"),
    )),
    Format("lots", "Lots de gavage", "Un lot par ligne : le gaveur, la souche, la période et l'entrée des canards.",
           "lots_gavage", ("code_lot",), (
        _CODE_LOT,
        _SITE,
        Colonne("code_gaveur", "texte", True, "Code du gaveur (déjà importé).", "LL-G001"),
        Colonne("souche", "texte", True, "Code de la souche (MULARD, BARBARIE, HYBRIDE).", "MULARD"),
        Colonne("date_debut", "date", True, "Premier jour de gavage (AAAA-MM-JJ ou JJ/MM/AAAA).", "05/01/2026"),
        Colonne("date_fin", "date", True, "Dernier jour de gavage (inclus), au plus 20 jours après le début.",
                "15/01/2026"),
        Colonne("nb_canards_entres", "entier", True, "Canards mis en gavage.", "1200", 1, 5000, "canards"),
        Colonne("nb_morts", "entier", False, "Canards morts pendant le gavage (vide = 0).", "25", 0, 5000,
                "canards"),
        Colonne("poids_entree_moyen_kg", "decimal", True, "Poids moyen d'un canard à l'entrée.", "4,15",
                2.5, 6.5, "kg"),
    )),
    Format("doses", "Doses de gavage (par repas)",
           "Une ligne par lot et par repas : la dose moyenne de maïs donnée à un canard.",
           "doses_gavage", ("code_lot", "repas"), (
        _CODE_LOT,
        Colonne("jour", "entier", True, "Jour de gavage (1 = premier jour du lot).", "1", 1, 21),
        Colonne("repas", "entier", True, "Numéro du repas dans le lot (1, 2, … ; 2 repas par jour).", "1", 1, 42),
        Colonne("horodatage", "horodatage", False,
                "Date et heure du repas, heure de Paris (vide = jour du lot à 6 h pour un repas impair, "
                "18 h pour un repas pair).", "05/01/2026 06:00"),
        Colonne("dose_g", "decimal", True, "Dose moyenne de maïs par canard pour ce repas.", "205", 0, 900, "g"),
        Colonne("dose_theorique_g", "decimal", False, "Dose prévue par la courbe de gavage.", "200", 0, 900, "g"),
    )),
    Format("doses_jour", "Doses de gavage (par jour)",
           "Une ligne par lot et par jour : la dose journalière ; enregistrée comme deux repas de 6 h et 18 h "
           "recevant chacun la moitié de la dose (le total du lot est conservé).",
           "doses_gavage", ("code_lot", "jour"), (
        _CODE_LOT,
        Colonne("jour", "entier", True, "Jour de gavage (1 = premier jour du lot).", "1", 1, 21),
        Colonne("dose_jour_g", "decimal", True, "Dose journalière de maïs par canard.", "410", 0, 1800, "g"),
        Colonne("dose_theorique_jour_g", "decimal", False, "Dose journalière prévue par la courbe.", "400",
                0, 1800, "g"),
    )),
    Format("abattages", "Abattages et qualité des foies",
           "Une ligne par lot abattu ; les colonnes de grades (nb_extra, poids_extra_kg, …) sont facultatives.",
           "abattages", ("code_lot",), (
        _CODE_LOT,
        Colonne("date_abattage", "date", True, "Jour de l'abattage.", "16/01/2026"),
        Colonne("nb_canards_abattus", "entier", True, "Canards abattus.", "1175", 0, 5000, "canards"),
        Colonne("poids_foie_moyen_g", "decimal", True, "Poids moyen d'un foie (minimum légal 300 g).", "612,4",
                300, 1500, "g"),
        Colonne("sigma_g", "decimal", True, "Écart-type des poids de foie du lot.", "72,5", 0, 600, "g"),
        Colonne("mais_total_kg", "decimal", True, "Maïs consommé par le lot pendant le gavage.", "10150", 0,
                unite="kg"),
        Colonne("taux_fonte_pct", "decimal", False, "Taux de fonte à la cuisson.", "22,1", 0, 100, "%"),
        *(c for code, nom in GRADES.items() for c in (
            Colonne(f"nb_{code}", "entier", False, f"Foies classés « {nom} ».", _EXEMPLES_GRADES[code][0], 0,
                    5000, "foies"),
            Colonne(f"poids_{code}_kg", "decimal", False, f"Poids des foies classés « {nom} ».",
                    _EXEMPLES_GRADES[code][1], 0, unite="kg"),
        )),
    )),
)}

# Kinds offered to users; a "doses" file with a dose_jour_g column is read as doses_jour.
GENRES = ("gaveurs", "lots", "doses", "doses_jour", "abattages")


def format_for(genre: str) -> Format:
    """The format of ``genre``; ValueError naming the known kinds otherwise."""
    try:
        return FORMATS[genre]
    except KeyError:
        raise ValueError(f"type d'import inconnu {genre!r} : choisissez parmi {', '.join(GENRES)}") from None


def documentation(fmt: Format) -> list[str]:
    """The French documentation of a format, one line per column (used by the templates)."""
    lignes = [f"{fmt.titre} : {fmt.description}",
              "Séparateur ; ou , — décimales avec virgule ou point — UTF-8 ou Latin-1 — ou fichier .xlsx.",
              "Colonnes (obligatoire / facultative, type, plage) :"]
    for c in fmt.colonnes:
        plage = f", {c.plage()}" if c.plage() else ""
        unite = f" {c.unite}" if c.unite else ""
        lignes.append(f"  {c.nom} ({'obligatoire' if c.obligatoire else 'facultative'}, {c.type}{plage}{unite}) : "
                      f"{c.description}")
    return lignes


def modele_csv(genre: str) -> str:
    """A CSV template: documentation and an example row as ``#`` comment lines, then the header.

    Separator ``;`` and decimal commas (what French spreadsheets write); the reader skips the leading
    ``#`` lines, so the filled template imports as is.
    """
    fmt = format_for(genre)
    lignes = [f"# {ligne}" for ligne in documentation(fmt)]
    lignes.append("# Exemple de ligne : " + ";".join(c.exemple for c in fmt.colonnes))
    lignes.append("# Les lignes commençant par # sont ignorées ; ajoutez les données sous l'en-tête.")
    lignes.append(";".join(fmt.noms))
    return "\n".join(lignes) + "\n"


def modele_xlsx(genre: str) -> bytes:
    """An Excel template: a sheet named after the kind (header + example row to replace) and a
    « documentation » sheet (ignored on import)."""
    import io

    import openpyxl

    fmt = format_for(genre)
    classeur = openpyxl.Workbook()
    feuille = classeur.active
    feuille.title = fmt.genre
    feuille.append(fmt.noms)
    doc = classeur.create_sheet("documentation")
    doc.append(["colonne", "obligatoire", "type", "plage", "unité", "description", "exemple"])
    for c in fmt.colonnes:
        doc.append([c.nom, "oui" if c.obligatoire else "non", c.type, c.plage(), c.unite, c.description, c.exemple])
    buf = io.BytesIO()
    classeur.save(buf)
    return buf.getvalue()
