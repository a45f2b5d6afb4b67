"""Login, roles and their enforcement in PostgreSQL (issue 12).

- :mod:`~euralis_lib.auth.acces`: the dashboards' database access as a user (``SET LOCAL ROLE`` and
  ``app.user`` in every transaction; row-level security in ``sql/112_rls.sql`` does the rest);
- :mod:`~euralis_lib.auth.utilisateurs`: users, argon2 password hashes, sessions, throttling, audit;
- :mod:`~euralis_lib.auth.jeton`: the signed identity handed from the Voilà server to a kernel;
- :mod:`~euralis_lib.auth.voila`: the jupyter_server identity provider and authorizer (login page);
- :mod:`~euralis_lib.auth.cli`: ``python -m euralis_lib users add|list|disable|passwd|role``.
"""

ROLES = ("admin", "superviseur", "gaveur")
