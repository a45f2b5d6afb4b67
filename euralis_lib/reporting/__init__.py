"""Reports a supervisor can hand over: the weekly report of a site (or of one gaveur) as a typeset PDF.

- :mod:`.contenu` gathers the week's figures from the existing queries and job results (no SQL of its own
  beyond alerts and grades) and the charts from :mod:`euralis_lib.presentation.plots`;
- :mod:`.page` writes them as French HTML, built only through :mod:`euralis_lib.presentation.markup`;
- :mod:`.pdf` prints that HTML with Debian's Chromium (Playwright), plotly drawing the charts from the
  local bundle;
- :mod:`.archive` stores the PDF under the reports folder and its row in ``rapports`` (sql/190), both or
  neither.

The job :mod:`euralis_lib.jobs.rapport_hebdo` and its notebook ``notebooks/jobs/rapport_hebdo.ipynb`` tie
them together; the « Rapports » page lists what the user may read.
"""
