"""Imports of real files (CSV, .xlsx): formats, reading, validation, upsert, report, upload widget."""
