"""Reading a PDF back in the tests: its text as a supervisor reads it."""

from __future__ import annotations

import io
import re

_LIGATURES = str.maketrans({"\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi", "\ufb04": "ffl"})


def texte_pdf(contenu: bytes) -> str:
    """The PDF's text, thousands separators removed, whitespace collapsed (``1 234,5`` → ``1234,5``) and the
    typographic ligatures Chromium prints written out (``ﬀ`` → ``ff``)."""
    from pypdf import PdfReader

    texte = "\n".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(contenu)).pages).translate(_LIGATURES)
    texte = re.sub(r"(?<=\d)[\u202f\xa0 ](?=\d{3}(?!\d))", "", texte)
    return re.sub(r"\s+", " ", texte)
