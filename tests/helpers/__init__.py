"""What test modules share: logins and sessions (``connexion``), the security suite's server and clients
(``security``), page helpers (``pages``), a small real filesystem (``filesystem``). Test modules import from
here, never from each other or from a conftest."""
