"""plotly's widget JavaScript served once as a cached file instead of inside every figure widget, with only the
cartesian traces.

plotly's ``FigureWidget`` is an anywidget whose ``_esm`` trait holds plotly's whole widget bundle
(~5 MB of JavaScript): every figure of every page view serialised it in the kernel, sent it over
the websocket and evaluated it in the browser. Here the figure's ``_esm`` is a small module (``static/figure.js``,
2 kB) that imports the bundle from the dashboards server (``/voila/plotly/widgetbundle.js?v=<version>``,
cached by the browser), resolved relative to the page so that it also works under a URL prefix, and redraws the
figure at its column's width (plotly's widget draws it once, 700 px wide when its element is not yet on the page).

That bundle is plotly's widget code around the whole of plotly.js (maps with MapLibre, 3D, geography: 4.8 MB,
1.5 MB gzipped, half of a first page view). The dashboards draw bars, lines and scatters, boxes and heatmaps
only, all in plotly.js's official cartesian build (npm ``plotly.js-cartesian-dist-min``, MIT, vendored as
``static/plotly-cartesian.min.js``): :func:`widget_dir` writes, once per plotly version, plotly's widget bundle
with that build in place of the whole plotly.js (plotly's widget code itself untouched), and
:func:`svg_traces` draws WebGL scatters (plotly express's choice above 1,000 points) in SVG, which the cartesian
build has. When plotly's bundle does not hold the plotly.js version vendored (plotly upgraded), the whole bundle
is served and a warning logged; ``tests/test_transfer.py`` fails until the vendored build follows.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
import re
from pathlib import Path

import plotly.graph_objects as go

from euralis_lib import config

log = logging.getLogger(__name__)

ROUTE = r"/voila/plotly/(widgetbundle\.js)"
CARTESIAN = Path(__file__).parent / "static" / "plotly-cartesian.min.js"
CARTESIAN_VERSION = re.search(rb"plotly\.js \(cartesian - minified\) v([0-9.]+)", CARTESIAN.read_bytes()[:200]).group(
    1).decode()
VERSION = f"{importlib.metadata.version('plotly')}-cartesian-{CARTESIAN_VERSION}"
# The figure widget's module (static/figure.js): plotly's widget, redrawn at its column's width when that width
# changes, its titles wrapped to it. Sent with every figure: its whole-line comments are left out.
FIGURE_JS = Path(__file__).parent / "static" / "figure.js"
ESM = "".join(ligne for ligne in FIGURE_JS.read_text(encoding="utf-8").replace("__VERSION__", VERSION)
              .splitlines(keepends=True) if not ligne.lstrip().startswith("//"))
# plotly.js inside the widget bundle: a CommonJS module (esbuild's wrapper) holding plotly.js's UMD build, which
# ends by setting window.Plotly. Minified names differ between plotly releases, hence the patterns.
_PLOTLY_START = re.compile(r'var (\w+)=(\w+)\(\((\w+),(\w+)\)=>\{\(function\(\w+,\w+\)\{'
                           r'typeof \4=="object"&&\4\.exports')
_PLOTLY_END = re.compile(r"return window\.Plotly=(\w+),\1\}\)\}\);")
_PLOTLY_VERSION = re.compile(r'\.version="([0-9.]+)"')


def bundle_dir() -> Path:
    """The folder of plotly's installed ``widgetbundle.js`` and ``plotly.min.js`` (the whole plotly.js)."""
    spec = importlib.util.find_spec("plotly")
    return Path(next(iter(spec.submodule_search_locations))) / "package_data"


def cartesian_bundle(bundle: str, cartesian: str) -> str:
    """plotly's widget ``bundle`` with the plotly.js it holds replaced by the ``cartesian`` build. ValueError when
    the bundle's plotly.js cannot be found or is not the cartesian build's version."""
    debut = _PLOTLY_START.search(bundle)
    fin = _PLOTLY_END.search(bundle, debut.end()) if debut else None
    if not debut or not fin:
        raise ValueError("plotly.js not found in plotly's widget bundle")
    versions = set(_PLOTLY_VERSION.findall(bundle, debut.end(), fin.start()))
    attendue = re.search(r"v([0-9.]+)", cartesian[:200]).group(1)
    if attendue not in versions:
        raise ValueError(f"plotly's widget bundle holds plotly.js {sorted(versions)}, "
                         f"the cartesian build is {attendue}")
    # The UMD build exports through `module.exports`: the wrapper's parameters take the names it uses.
    return (f"{bundle[:debut.start()]}var {debut.group(1)}={debut.group(2)}((exports,module)=>{{\n{cartesian}\n}});"
            f"{bundle[fin.end():]}")


def widget_dir() -> Path:
    """The folder of the ``widgetbundle.js`` the dashboards serve: the cartesian one, written at the first call
    for this plotly version under the workbench's home; plotly's own (:func:`bundle_dir`) if it cannot be made."""
    dossier = config.home_dir() / "plotly" / VERSION
    cible = dossier / "widgetbundle.js"
    if cible.exists():
        return dossier
    try:
        texte = cartesian_bundle((bundle_dir() / "widgetbundle.js").read_text(encoding="utf-8"),
                                 CARTESIAN.read_text(encoding="utf-8"))
    except ValueError as exc:
        log.warning("serving plotly's whole widget bundle (5 MB): %s", exc)
        return bundle_dir()
    dossier.mkdir(parents=True, exist_ok=True)
    provisoire = cible.with_suffix(".tmp")
    provisoire.write_text(texte, encoding="utf-8")
    provisoire.replace(cible)  # atomic: two servers starting together never serve half a file
    return dossier


def svg_traces(fig: go.Figure) -> go.Figure:
    """``fig`` with its WebGL scatter traces (plotly express's choice above 1,000 points) drawn as SVG scatters,
    which the cartesian build has; ``fig`` itself when it has none."""
    if not any(trace.type == "scattergl" for trace in fig.data):
        return fig
    traces = [go.Scatter({k: v for k, v in trace.to_plotly_json().items() if k != "type"})
              if trace.type == "scattergl" else trace for trace in fig.data]
    return go.Figure(data=traces, layout=fig.layout)
