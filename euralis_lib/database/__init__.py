"""The database: connection and embedded server, migrations, client tools, the shared reads (queries), and the
backups that protect it."""
