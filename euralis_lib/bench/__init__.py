"""Every benchmark (`make bench*`): volume, serving, backups, imports."""
