"""Euralis Workbench: the shared library behind the notebooks, jobs and dashboards."""

__version__ = "0.1.0"
