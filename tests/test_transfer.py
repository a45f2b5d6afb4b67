"""What a page view costs on the wire (issue 23): the dashboards server sends its JavaScript gzipped to a browser
that accepts it, and only then. The bytes of a whole page view are measured by ``make bench-transfer``
(euralis_lib/bench/transfer.py), not here."""

from __future__ import annotations

import gzip
import os
import urllib.request
from collections.abc import Iterator

import pytest

from euralis_lib.presentation import plotly_bundle
from tests.helpers.pages import pools
from tests.helpers.servers import copy_apps, voila_server


@pytest.fixture
def base(empty_db_url, tmp_path) -> Iterator[str]:
    """A dashboards server (login on, no preheated kernel) on an empty database; its base URL."""
    home = tmp_path / "home"
    env = {**os.environ, "EURALIS_DATABASE_URL": empty_db_url, "EURALIS_HOME": str(home), **pools()}
    env.pop("EURALIS_SESSION_SECRET", None)
    with voila_server(copy_apps(tmp_path / "apps", ["accueil"]), env, pool_size=0) as port:
        yield f"http://127.0.0.1:{port}"


def _get(url: str, encodings: str | None) -> tuple[dict[str, str], bytes]:
    """GET ``url`` (``Accept-Encoding: encodings`` when given); its headers (lower-case names) and raw body."""
    demande = urllib.request.Request(url, headers={"Accept-Encoding": encodings} if encodings else {})
    with urllib.request.urlopen(demande, timeout=60) as reponse:
        return {k.lower(): v for k, v in reponse.headers.items()}, reponse.read()


def test_the_big_javascript_bundles_travel_gzipped_when_the_browser_accepts_it(base):
    fichier = (plotly_bundle.bundle_dir() / "widgetbundle.js").read_bytes()
    url = f"{base}/voila/plotly/widgetbundle.js?v={plotly_bundle.VERSION}"
    entetes, corps = _get(url, "gzip, deflate, br")
    assert entetes.get("content-encoding") == "gzip", entetes
    assert "accept-encoding" in entetes.get("vary", "").lower(), entetes  # caches keep both forms apart
    assert gzip.decompress(corps) == fichier
    assert len(corps) < 0.4 * len(fichier), (len(corps), len(fichier))  # 5 MB of plotly: about 1.5 MB
    # Voilà's own application script (every page loads it and its chunks from /voila/static/).
    entetes, corps = _get(f"{base}/voila/static/voila.js", "gzip")
    assert entetes.get("content-encoding") == "gzip", entetes
    assert b"webpack" in gzip.decompress(corps)
    # Control: a client that does not ask for gzip gets the file as it is.
    entetes, corps = _get(url, None)
    assert "content-encoding" not in entetes and corps == fichier
