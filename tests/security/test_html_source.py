"""Finding 3 of issue 21, the rule behind the fix: HTML is built only through ``euralis_lib.presentation.markup``.

The library's source is parsed (AST) and these are refused outside ``euralis_lib/presentation/markup.py``:

1. HTML built by interpolation: an f-string, a ``+`` concatenation, a ``%`` or a ``str.format`` / ``join``
   whose literal part holds a tag (``<div``, ``</a``…), whatever it is passed to;
2. a value reaching an HTML sink — ``w.HTML(…)``, ``IPython.display.HTML(…)`` or ``<widget>.value = …`` —
   that is not HTML made by the helper (a call into ``markup``, a function annotated ``-> Markup``, the
   ``.value`` of a function annotated ``-> w.HTML``, or a name only ever bound to one of these): even a
   string literal, because the page snapshot (``common.instantane``) shows as HTML only ``Markup`` values
   and escapes any other;
3. ``Markup(…)`` / ``literal(…)`` on anything but a string literal, a ``markup.html`` template that is not
   a literal, and any other escaping path (``markupsafe`` or the standard ``html`` module imported directly).

The checker is run on samples first (it flags each unsafe one and passes each safe one), so it can fail.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

LIB = Path(__file__).resolve().parents[2] / "euralis_lib"
HELPER = "presentation/markup.py"
TAG = re.compile(r"</?[A-Za-z!]")
SINK_CALLS = {"HTML"}
MARKUP_API = {"html", "literal", "join", "element", "link", "download_link", "escape", "Markup"}
# Allowed by hand, with the reason. Each entry must still match something (a stale entry fails the test).
ALLOWED: dict[tuple[str, str], str] = {}


@dataclass
class Module:
    """One parsed source file and what it imports from the helper."""

    path: str
    tree: ast.Module
    helper_names: set[str] = field(default_factory=set)

    @property
    def templates(self) -> set[str]:
        """Module-level names bound once to a plain string literal (a page template written in the code)."""
        noms = [t.id for n in self.tree.body if isinstance(n, ast.Assign) and isinstance(n.value, ast.Constant)
                and isinstance(n.value.value, str) for t in n.targets if isinstance(t, ast.Name)]
        return {nom for nom in noms if noms.count(nom) == 1}


@dataclass
class Violation:
    path: str
    function: str
    line: int
    rule: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line} ({self.function}): {self.rule}"


def _literal_text(node: ast.AST) -> str | None:
    """The literal text of a str constant or an f-string's constant parts; None for anything else."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str))
    return None


def _add_operands(node: ast.AST) -> list[ast.AST]:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _add_operands(node.left) + _add_operands(node.right)
    return [node]


def _name(func: ast.AST) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _annotation(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    return ast.unparse(node.returns) if node.returns is not None else ""


class Checker:
    """The three rules over a set of modules (the library, or samples)."""

    def __init__(self, modules: list[Module]) -> None:
        self.modules = modules
        self.violations: list[Violation] = []
        self.sinks = 0
        self.allowed_used: set[tuple[str, str]] = set()
        returns: dict[str, set[str]] = {}
        for m in modules:
            for node in ast.walk(m.tree):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    returns.setdefault(node.name, set()).add(_annotation(node))
        # A name is trusted only if every function of that name in the library says what it returns.
        self.markup_functions = {n for n, a in returns.items() if a == {"Markup"}}
        self.widget_functions = {n for n, a in returns.items() if a and a <= {"w.HTML", "HTML"}}

    def run(self) -> list[Violation]:
        for m in self.modules:
            if m.path == HELPER:
                continue
            self._module(m)
        return self.violations

    def _flag(self, m: Module, function: str, node: ast.AST, rule: str) -> None:
        if (m.path, function) in ALLOWED:
            self.allowed_used.add((m.path, function))
            return
        violation = Violation(m.path, function, getattr(node, "lineno", 0), rule)
        if violation not in self.violations:  # a chain of + is one concatenation
            self.violations.append(violation)

    def _module(self, m: Module) -> None:
        scopes: list[tuple[str, ast.AST]] = [("<module>", m.tree)]
        scopes += [(n.name, n) for n in ast.walk(m.tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
        for name, scope in scopes:  # imports first: the helper's names are known before any call is judged
            for node in self._own_nodes(scope):
                if isinstance(node, ast.Import | ast.ImportFrom):
                    self._imports(m, name, node)
        for name, scope in scopes:
            for node in self._own_nodes(scope):
                self._node(m, name, scope, node)

    @staticmethod
    def _own_nodes(scope: ast.AST) -> list[ast.AST]:
        """The nodes of ``scope`` outside nested functions (each function is its own scope)."""
        out, todo = [], list(ast.iter_child_nodes(scope))
        while todo:
            node = todo.pop()
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            out.append(node)
            todo.extend(ast.iter_child_nodes(node))
        return out

    def _imports(self, m: Module, function: str, node: ast.Import | ast.ImportFrom) -> None:
        if isinstance(node, ast.ImportFrom) and node.module == "euralis_lib.presentation.markup":
            m.helper_names |= {a.asname or a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module == "euralis_lib" and any(
                a.name == "markup" for a in node.names):
            m.helper_names.add("markup")
        else:
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            if any(x == "html" or x.startswith("markupsafe") for x in modules):
                self._flag(m, function, node,
                           "escaping outside euralis_lib.presentation.markup (import html/markupsafe)")

    def _node(self, m: Module, function: str, scope: ast.AST, node: ast.AST) -> None:
        # Rule 1: HTML built by interpolation.
        if isinstance(node, ast.JoinedStr) and any(isinstance(v, ast.FormattedValue) for v in node.values):
            if TAG.search(_literal_text(node) or ""):
                self._flag(m, function, node, "f-string building HTML")
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            parts = _add_operands(node)
            textes = [_literal_text(p) for p in parts]
            if any(t is not None and TAG.search(t) for t in textes) and any(
                    not (isinstance(p, ast.Constant)) for p in parts):
                self._flag(m, function, node, "+ concatenation building HTML")
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
            if TAG.search(_literal_text(node.left) or ""):
                self._flag(m, function, node, "% formatting building HTML")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in {
                "format", "join", "format_map"}:
            if TAG.search(_literal_text(node.func.value) or ""):
                self._flag(m, function, node, f"str.{node.func.attr} building HTML")
        # Rule 3: raw Markup, and a template that is not a literal.
        if isinstance(node, ast.Call) and self._helper_call(m, node, {"Markup", "literal"}):
            if not all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in node.args) or node.keywords:
                self._flag(m, function, node, "Markup/literal on something else than a string literal")
        if isinstance(node, ast.Call) and self._helper_call(m, node, {"html"}):
            modele = node.args[0] if node.args else None
            constante = isinstance(modele, ast.Name) and modele.id in m.templates
            if modele is None or (not constante and (_literal_text(modele) is None
                                                     or isinstance(modele, ast.JoinedStr))):
                self._flag(m, function, node, "markup.html template that is not a string literal")
        # Rule 2: what reaches a sink.
        if isinstance(node, ast.Call) and _name(node.func) in SINK_CALLS:
            self.sinks += 1
            valeurs = list(node.args) + [k.value for k in node.keywords if k.arg == "value"]
            for v in valeurs:
                if not self._safe(m, scope, v):
                    self._flag(m, function, node, f"unsafe value reaches HTML(): {ast.unparse(v)[:80]}")
        if isinstance(node, ast.Assign | ast.AugAssign):
            cibles = node.targets if isinstance(node, ast.Assign) else [node.target]
            for cible in cibles:
                if isinstance(cible, ast.Attribute) and cible.attr == "value":
                    self.sinks += 1
                    if isinstance(node, ast.AugAssign) or not self._safe(m, scope, node.value):
                        self._flag(m, function, node, f"unsafe value assigned to .value: {ast.unparse(node)[:80]}")

    def _helper_call(self, m: Module, node: ast.Call, names: set[str]) -> bool:
        func = node.func
        if isinstance(func, ast.Name):
            return func.id in names and func.id in m.helper_names
        return (isinstance(func, ast.Attribute) and func.attr in names and isinstance(func.value, ast.Name)
                and func.value.id in m.helper_names)

    def _safe(self, m: Module, scope: ast.AST, node: ast.AST, seen: frozenset[str] = frozenset()) -> bool:
        if isinstance(node, ast.IfExp):
            return self._safe(m, scope, node.body, seen) and self._safe(m, scope, node.orelse, seen)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return all(self._safe(m, scope, p, seen) for p in _add_operands(node))
        if isinstance(node, ast.Call):
            if self._helper_call(m, node, MARKUP_API):  # Markup/literal on data is rule 3's
                return True
            return _name(node.func) in self.markup_functions
        if isinstance(node, ast.Attribute) and node.attr == "value" and isinstance(node.value, ast.Call):
            return _name(node.value.func) in self.widget_functions
        if isinstance(node, ast.Name) and node.id not in seen:
            # Bound in the function, else at module level (a constant such as the style sheet).
            liaisons = self._bindings(scope, node.id) or self._bindings(m.tree, node.id)
            return bool(liaisons) and all(self._safe(m, scope, v, seen | {node.id}) for v in liaisons)
        return False

    def _bindings(self, scope: ast.AST, name: str) -> list[ast.AST]:
        """Every value assigned to ``name`` in ``scope`` (an augmented assignment counts as its operand)."""
        valeurs: list[ast.AST] = []
        for n in self._own_nodes(scope):
            if isinstance(n, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in n.targets):
                valeurs.append(n.value)
            elif isinstance(n, ast.AugAssign | ast.AnnAssign) and isinstance(n.target, ast.Name) \
                    and n.target.id == name and n.value is not None:
                valeurs.append(n.value)
        return valeurs


def check(sources: dict[str, str]) -> Checker:
    """Run the checker on ``{path: source}``; the result holds its violations and the number of sinks seen."""
    checker = Checker([Module(path, ast.parse(texte)) for path, texte in sources.items()])
    checker.run()
    return checker


def _library() -> dict[str, str]:
    return {p.relative_to(LIB).as_posix(): p.read_text(encoding="utf-8") for p in sorted(LIB.rglob("*.py"))}


SAMPLE_HEADER = ("import ipywidgets as w\nfrom euralis_lib.presentation.markup import Markup, element, html, literal\n"
                 "from euralis_lib import markup\n")
UNSAFE = {
    "f-string into w.HTML": "def f(nom):\n    return w.HTML(f'<b>{nom}</b>')\n",
    "f-string through a name": "def f(nom):\n    x = f'<b>{nom}</b>'\n    return w.HTML(x)\n",
    "concatenation": "def f(nom):\n    return w.HTML('<b>' + nom + '</b>')\n",
    "percent": "def f(nom):\n    return w.HTML('<b>%s</b>' % nom)\n",
    "str.format": "def f(nom):\n    return w.HTML('<a download=\"{}\">'.format(nom))\n",
    "join with tags": "def f(noms):\n    return '<td>'.join(noms)\n",
    "raw data into .value": "def f(widget, nom):\n    widget.value = nom\n",
    "augmented .value": "def f(widget):\n    widget.value += element('b', 'x')\n",
    "helper of another module returning str": "def g(nom) -> str:\n    return nom\n"
                                              "def f(widget, nom):\n    widget.value = g(nom)\n",
    "Markup on data": "def f(nom):\n    return w.HTML(element('b', Markup(nom)))\n",
    "literal on data": "def f(nom):\n    return literal(nom)\n",
    "template from data": "def f(modele, nom):\n    return html(modele, nom)\n",
    "f-string template": "def f(nom):\n    return html(f'<b>{nom}</b>')\n",
    "stdlib escaping": "import html as h\n",
    "markupsafe directly": "from markupsafe import escape\n",
    "a plain string (the snapshot would escape it)": "def f():\n    return w.HTML('<h3>Sites</h3>')\n",
    "IPython HTML with a str": "from IPython.display import HTML\ndef f(nom):\n    return HTML(str(nom))\n",
}
SAFE = {
    "literal HTML": "def f():\n    return w.HTML(literal('<h3>Sites</h3>'))\n",
    "helper element": "def f(nom):\n    return w.HTML(element('h4', f'Lots du gaveur {nom}'))\n",
    "helper template": "def f(nom):\n    return w.HTML(html('<h4>Lots du gaveur {}</h4>', nom))\n",
    "through a name": "def f(nom):\n    x = element('b', nom)\n    y = x + element('i', nom)\n    return w.HTML(y)\n",
    "Markup-annotated function": "def g(nom) -> Markup:\n    return element('b', nom)\n"
                                 "def f(widget, nom):\n    widget.value = g(nom) if nom else literal('vide')\n",
    "value of a widget function": "def g(nom) -> w.HTML:\n    return w.HTML(element('b', nom))\n"
                                  "def f(widget, nom):\n    widget.value = g(nom).value\n",
    "qualified helper": "def f(nom):\n    return w.HTML(markup.element('b', nom))\n",
    "plain text f-string": "def f(nom):\n    return f'{nom} < 3'\n",
}


@pytest.mark.parametrize("cas", sorted(UNSAFE))
def test_the_checker_flags_each_unsafe_sample(cas):
    assert check({"sample.py": SAMPLE_HEADER + UNSAFE[cas]}).violations, f"not flagged: {cas}"


@pytest.mark.parametrize("cas", sorted(SAFE))
def test_the_checker_passes_each_safe_sample(cas):
    assert check({"sample.py": SAMPLE_HEADER + SAFE[cas]}).violations == [], cas


def test_the_checker_flags_the_code_of_finding_3():
    """The ``export_links`` of the issue's finding, as it was on main: flagged twice (f-string, sink)."""
    avant = ("import base64\nimport ipywidgets as w\n"
             "def export_links(df, nom):\n    csv = base64.b64encode(b'').decode()\n"
             "    lien = w.HTML(f'<a download=\"{nom}.csv\" href=\"data:text/csv;base64,{csv}\">CSV</a> &nbsp;')\n"
             "    return lien\n")
    regles = {v.rule.split(":")[0] for v in check({"dashboards/common.py": avant}).violations}
    assert regles == {"f-string building HTML", "unsafe value reaches HTML()"}


def test_the_library_builds_html_only_through_the_helper():
    checker = check(_library())
    assert checker.sinks >= 30, f"only {checker.sinks} HTML sinks seen: the checker is not reading the library"
    assert not checker.violations, "HTML built outside euralis_lib.presentation.markup:\n" + "\n".join(
        map(str, checker.violations))
    assert checker.allowed_used == set(ALLOWED), f"stale allow-list entries: {set(ALLOWED) - checker.allowed_used}"
