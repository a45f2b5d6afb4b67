"""What users read: HTML markup (escaped), French number formats, charts, table exports."""
