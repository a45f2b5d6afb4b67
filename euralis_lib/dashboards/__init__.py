"""Supervisor dashboards served by Voilà: one module per page, shared widgets in :mod:`.common`.

Each page module exposes ``page(**params)`` returning (and displaying) the page widget; the app
notebooks in ``notebooks/apps/`` only call it.
"""
