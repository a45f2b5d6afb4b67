"""Page helpers: what a supervisor reads in a widget tree, how long a browser test waits for a page."""

from __future__ import annotations

import ipywidgets as w

from euralis_lib.dashboards import common

PAGE_TIMEOUT_MS = 180_000


def page_text(widgets: list[w.Widget]) -> str:
    """All HTML a supervisor reads in a widget tree: the page snapshot's walk (:func:`common.instantane`)."""
    return common.instantane(w.VBox(list(widgets)))
