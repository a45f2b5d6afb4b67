"""Named exceptions carrying a message meant for the user (what went wrong, what to do)."""


class EuralisError(Exception):
    """Base class: the message is shown to the user as is, without a traceback."""


class DatabaseUnavailableError(EuralisError):
    """The database cannot be reached (server down, wrong URL, refused credentials)."""


class EmbeddedServerError(EuralisError):
    """The embedded PostgreSQL data folder is in a state we refuse to touch silently."""


class MigrationError(EuralisError):
    """A migration failed (rolled back whole) or an applied migration file was modified."""


class DataLoadError(EuralisError):
    """Loading data was refused (for example the database already holds data)."""


class ServeError(EuralisError):
    """The dashboards server cannot start (port already in use, Voilà exited)."""


class ImportFileError(DataLoadError):
    """A whole file was refused by an import (unreadable, empty, ragged, required columns missing)."""


class AuthError(EuralisError):
    """A login or account operation was refused (wrong password, throttled, unknown or disabled user)."""
