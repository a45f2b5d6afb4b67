"""What a page view costs on the wire (issue 23): the dashboards server sends its JavaScript gzipped to a browser
that accepts it, and only then. The bytes of a whole page view are measured by ``make bench-transfer``
(euralis_lib/bench/transfer.py), not here."""

from __future__ import annotations

import gzip
import os
import urllib.request
from collections.abc import Iterator

import pandas as pd
import plotly.express as px
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
    fichier = (plotly_bundle.widget_dir() / "widgetbundle.js").read_bytes()
    url = f"{base}/voila/plotly/widgetbundle.js?v={plotly_bundle.VERSION}"
    entetes, corps = _get(url, "gzip, deflate, br")
    assert entetes.get("content-encoding") == "gzip", entetes
    assert "accept-encoding" in entetes.get("vary", "").lower(), entetes  # caches keep both forms apart
    assert gzip.decompress(corps) == fichier
    assert len(corps) < 0.4 * len(fichier), (len(corps), len(fichier))  # 1.6 MB of plotly: about 0.54 MB
    # Voilà's own application script (every page loads it and its chunks from /voila/static/).
    entetes, corps = _get(f"{base}/voila/static/voila.js", "gzip")
    assert entetes.get("content-encoding") == "gzip", entetes
    assert b"webpack" in gzip.decompress(corps)
    # Control: a client that does not ask for gzip gets the file as it is.
    entetes, corps = _get(url, None)
    assert "content-encoding" not in entetes and corps == fichier


def test_the_served_plotly_is_the_cartesian_build_inside_plotlys_own_widget_code(tmp_path, monkeypatch):
    """Fails when plotly is upgraded and its bundle holds another plotly.js than the vendored cartesian build:
    update ``euralis_lib/presentation/static/plotly-cartesian.min.js`` (npm plotly.js-cartesian-dist-min)."""
    monkeypatch.setenv("EURALIS_HOME", str(tmp_path))
    dossier = plotly_bundle.widget_dir()
    assert dossier != plotly_bundle.bundle_dir()
    servi = (dossier / "widgetbundle.js").read_text(encoding="utf-8")
    entier = (plotly_bundle.bundle_dir() / "widgetbundle.js").read_text(encoding="utf-8")
    cartesien = plotly_bundle.CARTESIAN.read_text(encoding="utf-8")
    assert cartesien in servi
    assert len(servi) < len(entier) / 2, (len(servi), len(entier))
    # plotly's widget code (after plotly.js) is kept as it is.
    fin = plotly_bundle._PLOTLY_END.search(entier)
    assert servi.endswith(entier[fin.end():])
    with pytest.raises(ValueError, match="cartesian build is"):  # control: another plotly.js version is refused
        plotly_bundle.cartesian_bundle(entier, cartesien.replace(f"v{plotly_bundle.CARTESIAN_VERSION}", "v0.0.1", 1))


def test_webgl_scatters_are_drawn_in_svg_the_cartesian_build_has():
    points = pd.DataFrame({"x": range(1500), "y": range(1500)})
    fig = px.scatter(points, x="x", y="y", title="t")
    assert [t.type for t in fig.data] == ["scattergl"]  # plotly express's choice above 1,000 points
    svg = plotly_bundle.svg_traces(fig)
    assert [t.type for t in svg.data] == ["scatter"] and list(svg.data[0].x) == list(range(1500))
    assert svg.layout.title.text == "t"
    petit = px.scatter(points.head(10), x="x", y="y")
    assert plotly_bundle.svg_traces(petit) is petit
