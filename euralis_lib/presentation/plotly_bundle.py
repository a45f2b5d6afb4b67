"""plotly's widget JavaScript served once as a cached file instead of inside every figure widget.

plotly's ``FigureWidget`` is an anywidget whose ``_esm`` trait holds plotly's whole widget bundle
(~5 MB of JavaScript): every figure of every page view serialised it in the kernel, sent it over
the websocket and evaluated it in the browser. Here the figure's ``_esm`` is a two-line module that
imports the bundle from the dashboards server (``/voila/plotly/widgetbundle.js?v=<plotly version>``,
cached by the browser), resolved relative to the page so that it also works under a URL prefix.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path

ROUTE = r"/voila/plotly/(widgetbundle\.js)"
VERSION = importlib.metadata.version("plotly")
ESM = (f'const m = await import(new URL("../plotly/widgetbundle.js?v={VERSION}", document.baseURI).href);\n'
       "export default m.default;\n")


def bundle_dir() -> Path:
    """The folder of plotly's installed ``widgetbundle.js``."""
    spec = importlib.util.find_spec("plotly")
    return Path(next(iter(spec.submodule_search_locations))) / "package_data"
