"""Binary ``COPY`` of a DataFrame built by numpy, without formatting one value as text.

PostgreSQL's binary COPY format is a header, then per row a field count and, per field, its length
(-1 for NULL) and its bytes. Rows sharing a pattern of NULLs have a fixed layout, so each pattern is
one numpy structured array; row order does not matter for a staging table. Encoded types: smallint,
integer, bigint, double precision, timestamptz and numeric(p, s) with s ≤ 4 and under 10⁸; any other
column makes :func:`copy_binaire` return False (the caller uses a text COPY).
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from sqlalchemy.engine import Connection

_EPOQUE_PG_US = 946_684_800_000_000  # 2000-01-01 UTC, origin of PostgreSQL's binary timestamps
_ENTIERS = {"smallint": ">i2", "integer": ">i4", "bigint": ">i8"}
_NUMERIC_CHAMPS = ("ndigits", "weight", "sign", "dscale", "d0", "d1", "d2")


def _echelle(type_pg: str) -> int | None:
    """Scale of a ``numeric(p,s)`` type (None for any other type)."""
    if type_pg.startswith("numeric(") and type_pg.endswith(")"):
        return int(type_pg[len("numeric("):-1].split(",")[1])
    return None


def _encodable(valeurs: pd.Series, type_pg: str) -> bool:
    if type_pg in _ENTIERS or type_pg == "double precision":
        return pd.api.types.is_numeric_dtype(valeurs) and not pd.api.types.is_bool_dtype(valeurs)
    if type_pg == "timestamp with time zone":
        return isinstance(valeurs.dtype, pd.DatetimeTZDtype)
    echelle = _echelle(type_pg)
    if echelle is None or echelle > 4 or not pd.api.types.is_float_dtype(valeurs) and \
            not pd.api.types.is_integer_dtype(valeurs):
        return False
    return bool((valeurs.dropna().abs() < 1e8).all())


def _champs(i: int, type_pg: str) -> list[tuple[str, str]]:
    if type_pg in _ENTIERS:
        return [(f"v{i}", _ENTIERS[type_pg])]
    if type_pg in ("double precision", "timestamp with time zone"):
        return [(f"v{i}", ">f8" if type_pg == "double precision" else ">i8")]
    return [(f"v{i}_{n}", ">i2") for n in _NUMERIC_CHAMPS]


def _remplir(lignes: np.ndarray, i: int, type_pg: str, valeurs: pd.Series) -> int:
    """Store the values of column ``i`` in ``lignes``; the field's length in bytes."""
    if type_pg in _ENTIERS or type_pg == "double precision":
        lignes[f"v{i}"] = valeurs.to_numpy()
        return lignes.dtype[f"v{i}"].itemsize
    if type_pg == "timestamp with time zone":
        micro = valeurs.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[us]").astype("int64")
        lignes[f"v{i}"] = micro - _EPOQUE_PG_US
        return 8
    echelle = _echelle(type_pg) or 0
    x = valeurs.to_numpy(dtype="float64")
    entier = np.floor(np.abs(x) * 10 ** echelle + 0.5 + 1e-7).astype("int64")  # half away from zero, as text
    partie = entier // 10 ** echelle
    for nom, v in zip(_NUMERIC_CHAMPS, (3, 1, np.where(x < 0, 0x4000, 0), echelle, partie // 10_000,
                                         partie % 10_000, (entier % 10 ** echelle) * 10 ** (4 - echelle)),
                      strict=True):
        lignes[f"v{i}_{nom}"] = v
    return 14


def copy_binaire(conn: Connection, table: str, df: pd.DataFrame, types: dict[str, str]) -> bool:
    """COPY ``df`` into ``table`` whose columns have the PostgreSQL ``types``; False (nothing sent) when a
    column cannot be encoded here."""
    cols = list(df.columns)
    if not all(_encodable(df[c], types[c]) for c in cols):
        return False
    nuls = np.column_stack([df[c].isna().to_numpy() for c in cols])
    motifs = nuls.astype("int64") @ (1 << np.arange(len(cols), dtype="int64"))
    morceaux = [b"PGCOPY\n\xff\r\n\x00" + b"\x00" * 8]
    for motif in np.unique(motifs):
        choisies = motifs == motif
        champs = [("n", ">i2")]
        for i, c in enumerate(cols):
            champs.append((f"l{i}", ">i4"))
            if not (motif >> i) & 1:
                champs += _champs(i, types[c])
        lignes = np.zeros(int(choisies.sum()), dtype=champs)
        lignes["n"] = len(cols)
        for i, c in enumerate(cols):
            nul = (motif >> i) & 1
            lignes[f"l{i}"] = -1 if nul else _remplir(lignes, i, types[c], df[c][choisies])
        morceaux.append(lignes.tobytes())
    morceaux.append(b"\xff\xff")
    raw = conn.connection.driver_connection
    with raw.cursor() as cur:
        cur.copy_expert(f"COPY {table} ({', '.join(cols)}) FROM STDIN WITH (FORMAT binary)",
                        io.BytesIO(b"".join(morceaux)))
    return True
