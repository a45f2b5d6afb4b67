"""Login, roles and their enforcement in PostgreSQL (issue 12).

- :mod:`~euralis_lib.auth.acces`: the dashboards' database access as a user (his session's kernel token on
  every connection, ``SET LOCAL ROLE`` in every transaction; the token-conditional row-level security of
  ``sql/150``–``152`` does the rest), and which report files he may download;
- :mod:`~euralis_lib.auth.utilisateurs`: users, argon2 password hashes, sessions, throttling, audit;
- :mod:`~euralis_lib.auth.jeton`: the kernel token handed from the Voilà server to a kernel, and whose it is;
- :mod:`~euralis_lib.serving.report_files`: the reports route, serving a job report only to whom the database allows;
- :mod:`~euralis_lib.serving.login`: the jupyter_server identity provider and authorizer (login page);
- :mod:`~euralis_lib.auth.cli`: ``python -m euralis_lib users add|list|disable|passwd|role``.
"""

ROLES = ("admin", "superviseur", "gaveur")
# The login session cookie (signed): read by the login handler, hashed by the proxy to keep a user on one instance.
SESSION_COOKIE = "euralis_session"
