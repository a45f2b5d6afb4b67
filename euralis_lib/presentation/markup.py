"""The one way to build HTML: every value interpolated into a page is escaped, attribute values included.

Built on :mod:`markupsafe`: a :class:`~markupsafe.Markup` is HTML already safe; anything else put into
it is escaped (``&``, ``<``, ``>``, ``"`` and ``'``), so data (a gaveur's name, a lot code, a file
name) is always shown as text, never run as markup or script. ipywidgets ``HTML`` values and the page
snapshot are inserted into the browser as HTML: they are built only with these functions, which
``tests/security/test_html.py`` checks on the library's source.
"""

from __future__ import annotations

import base64
import re
import unicodedata
from collections.abc import Iterable
from urllib.parse import urlsplit

from markupsafe import Markup, escape

__all__ = ["Markup", "download_link", "element", "escape", "html", "join", "link", "literal", "safe_filename"]

_NAME = re.compile(r"^[a-z][a-z0-9-]*$")
_URL_ATTRIBUTES = frozenset({"href", "src", "action", "formaction", "xlink:href"})
_SCHEMES = frozenset({"", "http", "https", "mailto"})
_MIME = re.compile(r"^[a-z]+/[a-z0-9.+-]+$")
# Content types a download link may carry: files the browser saves, never a document it would render.
_DOWNLOAD_TYPES = frozenset({"text/csv", "application/pdf", "application/json",
                             "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"})
_VOID = frozenset({"br", "hr", "img", "input", "meta", "link", "wbr"})
_FILENAME_MAX = 80


def html(template: str, *args: object, **kwargs: object) -> Markup:
    """``template`` (written by a developer, never data) with ``{}`` fields filled by escaped values."""
    return Markup(template).format(*args, **kwargs)


def literal(text: str) -> Markup:
    """A fixed piece of HTML written in the code (a style sheet, a script): never pass it data."""
    return Markup(text)


def join(parts: Iterable[object], separator: str = "") -> Markup:
    """The parts one after the other, each escaped unless it is already :class:`Markup`."""
    return escape(separator).join(escape(p) for p in parts)


def _check_url(url: str, *, data: bool = False) -> str:
    """``url`` when its scheme is harmless (relative, http, https, mailto; ``data:`` only for downloads)."""
    propre = "".join(c for c in url if c.isprintable() and not c.isspace())
    scheme = urlsplit(propre).scheme.lower()
    if scheme in _SCHEMES or (data and scheme == "data"):
        return url
    raise ValueError(f"URL refused in a link (scheme {scheme!r}): {url[:60]!r}")


def _attributes(attrs: dict[str, object]) -> Markup:
    parts = []
    for cle, valeur in attrs.items():
        nom = cle.rstrip("_").replace("_", "-")
        if not _NAME.match(nom) or nom.startswith("on"):
            raise ValueError(f"attribute name refused: {cle!r}")
        if valeur is None or valeur is False:
            continue
        if valeur is True:
            parts.append(html(" {}", nom))
            continue
        texte = str(valeur)
        if nom in _URL_ATTRIBUTES:
            _check_url(texte)
        parts.append(html(' {}="{}"', nom, texte))
    return join(parts)


def element(tag: str, *children: object, **attrs: object) -> Markup:
    """``<tag attrs>children</tag>``: children escaped unless Markup, every attribute value escaped.

    Keyword names map to attributes: ``class_`` → ``class``, ``data_x`` → ``data-x``; ``None`` or
    ``False`` leaves the attribute out, ``True`` writes it bare. Event handlers (``on…``) are refused
    and link attributes (``href``, ``src``) accept only relative, http(s) and mailto URLs.
    """
    if not _NAME.match(tag) or tag == "script":
        raise ValueError(f"element refused: {tag!r}")
    ouverture = html("<{}{}>", tag, _attributes(attrs))
    if tag in _VOID:
        return ouverture
    return ouverture + join(children) + html("</{}>", tag)


def link(href: str, text: object, **attrs: object) -> Markup:
    """A link (``<a href>``) to a relative, http(s) or mailto URL; the text is escaped unless Markup."""
    return element("a", text, href=href, **attrs)


def safe_filename(name: str, default: str = "export") -> str:
    """``name`` as a file name safe on every system and in an attribute: letters, digits, ``._-`` only
    (anything else becomes ``_``), no leading dot, at most 80 characters; ``default`` when nothing is left."""
    texte = unicodedata.normalize("NFC", str(name))
    texte = re.sub(r"[^\w.-]+", "_", texte, flags=re.UNICODE)
    texte = re.sub(r"_{2,}", "_", texte).strip("._-")[:_FILENAME_MAX].rstrip("._-")
    return texte or default


def download_link(filename: str, mime: str, content: bytes, text: object, **attrs: object) -> Markup:
    """A link downloading ``content`` (embedded as a base64 data URI) as ``filename`` (made safe);
    ``mime`` must be one of the file types offered (CSV, Excel, PDF, JSON), never HTML or SVG."""
    if not _MIME.match(mime) or mime not in _DOWNLOAD_TYPES:
        raise ValueError(f"content type refused for a download: {mime!r}")
    nom, _, extension = str(filename).rpartition(".")
    fichier = f"{safe_filename(nom)}.{safe_filename(extension, 'bin')}" if nom else safe_filename(extension)
    uri = f"data:{mime};base64,{base64.b64encode(content).decode()}"
    return html('<a download="{}" href="{}"{}>{}</a>', fichier, _check_url(uri, data=True), _attributes(attrs), text)
