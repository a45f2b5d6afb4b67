"""A notebook's ``parameters`` cell: the one declaration of a job's parameters.

Each line of the cell is ``name: type = default  # help`` (``from typing import Optional`` at the
top: papermill's parser reads ``Optional[list[str]]`` but not ``list[str] | None``).
:func:`declaration` reads it with papermill's ``inspect_notebook``; :func:`check` refuses unknown
names and values of the wrong type before anything is written, and :func:`with_defaults` completes
the values a caller gives with the declared defaults. ``run_id`` and ``database_url`` are the run
context set by the runner, not job parameters.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from euralis_lib.exceptions import EuralisError

CONTEXTE = ("run_id", "database_url")
_TYPES: dict[str, tuple[type, ...]] = {"int": (int,), "float": (float, int), "str": (str,), "bool": (bool,),
                                       "list": (list,), "dict": (dict,)}
_ANNOTATION = re.compile(r"^\s*(?:Optional\[(?P<opt>.+)\]|(?P<plain>.+?))\s*$")


class JobParameterError(EuralisError):
    """A job parameter has the wrong name, type or value; nothing was written."""


@dataclass(frozen=True)
class Parametre:
    """One declared parameter: name, annotation text, default value and help text."""

    nom: str
    annotation: str
    defaut: Any
    aide: str

    @property
    def optionnel(self) -> bool:
        """True when ``None`` is accepted (``Optional[...]``)."""
        return self.annotation.startswith("Optional[")

    def accepte(self, valeur: Any) -> bool:
        """True when ``valeur`` fits the annotation (``int`` accepted for ``float``; never ``bool`` for numbers)."""
        if valeur is None:
            return self.optionnel
        match = _ANNOTATION.match(self.annotation)
        texte = (match.group("opt") or match.group("plain")) if match else self.annotation
        return _conforme(valeur, texte.strip())


def _conforme(valeur: Any, texte: str) -> bool:
    base, _, interne = texte.partition("[")
    types = _TYPES.get(base.strip())
    if types is None:
        return True  # an annotation this checker does not know: papermill passes it as is
    if isinstance(valeur, bool) and bool not in types:
        return False
    if not isinstance(valeur, types):
        return False
    if base.strip() == "list" and interne:
        return all(_conforme(v, interne.rstrip("]").strip()) for v in valeur)
    return True


_AFFECTATION = re.compile(r"^(?P<nom>[A-Za-z_]\w*)\s*(?::[^=]*)?=")


def _illisibles(notebook: str, lus: set[str]) -> list[str]:
    """Assignments of the ``parameters`` cell that papermill's parser skipped (it refuses a second ``=``
    on a line, e.g. in the help text)."""
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    cellule = next((c for c in nb.cells if "parameters" in c.metadata.get("tags", [])), None)
    if cellule is None:
        return []
    return [ligne for ligne in cellule.source.splitlines()
            if (m := _AFFECTATION.match(ligne)) and m.group("nom") not in lus]


@lru_cache(maxsize=64)
def _lire(notebook: str, _mtime: float) -> dict[str, Parametre]:
    import papermill

    declares = papermill.inspect_notebook(notebook)
    illisibles = _illisibles(notebook, set(declares))
    if illisibles:
        raise JobParameterError(f"{notebook}: papermill cannot read these lines of the parameters cell (one '=' "
                                f"per line, help after '#'): {'; '.join(illisibles)}")
    params = {}
    for nom, spec in declares.items():
        try:
            defaut = ast.literal_eval(spec["default"])
        except (ValueError, SyntaxError):
            defaut = None
        annotation = spec["inferred_type_name"]
        if annotation == "None":  # not annotated: the default's type (nothing to check for a None default)
            annotation = "" if defaut is None else type(defaut).__name__
        params[nom] = Parametre(nom, annotation, defaut, spec["help"])
    return params


def declaration(notebook: Path, contexte: bool = False) -> dict[str, Parametre]:
    """The parameters declared by ``notebook`` (run context excluded unless ``contexte``)."""
    if not notebook.is_file():
        raise JobParameterError(f"notebook {notebook} does not exist")
    params = _lire(str(notebook), notebook.stat().st_mtime)
    return dict(params) if contexte else {k: v for k, v in params.items() if k not in CONTEXTE}


def check(job: str, notebook: Path, valeurs: Mapping[str, Any]) -> None:
    """Refuse names the notebook does not declare and values of the wrong type (nothing runs)."""
    declares = declaration(notebook)
    for nom, valeur in valeurs.items():
        if nom not in declares:
            raise JobParameterError(f"{job}: {notebook.name} has no parameter {nom!r}; "
                                    f"its parameters are {', '.join(declares) or '(none)'}.")
        param = declares[nom]
        if param.annotation and not param.accepte(valeur):
            raise JobParameterError(f"{job}: parameter {nom!r} must be {param.annotation}, not "
                                    f"{type(valeur).__name__} ({valeur!r}). Nothing was run.")


def with_defaults(job: str, notebook: Path, valeurs: Mapping[str, Any]) -> dict[str, Any]:
    """``valeurs`` checked and completed with the declared defaults, in declaration order."""
    check(job, notebook, valeurs)
    return {nom: valeurs.get(nom, p.defaut) for nom, p in declaration(notebook).items()}


def are_defaults(notebook: Path, valeurs: Mapping[str, Any]) -> bool:
    """True when ``valeurs`` (completed) are the notebook's declared defaults: a run with them publishes by
    default, a run with any other value is exploratory (sql/202_runs_etapes.sql)."""
    return all(valeurs.get(nom, p.defaut) == p.defaut for nom, p in declaration(notebook).items())
