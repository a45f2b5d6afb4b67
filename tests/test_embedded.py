"""The embedded server: start, stop, restart with data kept; broken folders and stale pid files."""

import os
import shutil
import tempfile
from pathlib import Path

import psycopg2
import pytest

from euralis_lib.database import embedded
from euralis_lib.exceptions import EmbeddedServerError


@pytest.fixture
def pgdata():
    base = Path(tempfile.mkdtemp(prefix="eure-", dir="/tmp"))
    os.chmod(base, 0o755)
    yield base / "pgdata"
    embedded.stop(base / "pgdata")
    shutil.rmtree(base, ignore_errors=True)


def _query(url_status, sql):
    conn = psycopg2.connect(dbname="euralis", user="postgres", host=str(url_status.socket_dir))
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall() if cur.description else None
    finally:
        conn.close()


def test_start_stop_restart_keeps_data(pgdata):
    assert embedded.status(pgdata).state == "absent"
    url = embedded.start(pgdata)
    assert url.startswith("postgresql+psycopg2://postgres@/euralis?host=")
    running = embedded.status(pgdata)
    assert running.state == "running" and running.pid
    _query(running, "CREATE TABLE kept (x int); INSERT INTO kept VALUES (42)")

    assert embedded.stop(pgdata) is True
    assert embedded.status(pgdata).state == "stopped"
    assert embedded.stop(pgdata) is False

    embedded.start(pgdata)
    assert _query(embedded.status(pgdata), "SELECT x FROM kept") == [(42,)]


def test_start_twice_reuses_the_running_server(pgdata):
    embedded.start(pgdata)
    pid = embedded.status(pgdata).pid
    embedded.start(pgdata)
    assert embedded.status(pgdata).pid == pid


def test_half_initialised_folder_is_refused_and_left_untouched(pgdata):
    pgdata.mkdir()
    (pgdata / "leftover.txt").write_text("interrupted initdb")
    assert embedded.status(pgdata).state == "broken"
    with pytest.raises(EmbeddedServerError, match="db reset"):
        embedded.start(pgdata)
    assert (pgdata / "leftover.txt").read_text() == "interrupted initdb"


def test_stale_pid_file_is_recovered(pgdata):
    embedded.start(pgdata)
    embedded.stop(pgdata)
    # A postmaster.pid left by a crash, naming a live process that is not PostgreSQL (this one).
    (pgdata / "postmaster.pid").write_text(f"{os.getpid()}\n{pgdata}\n0\n5432\n{pgdata}\n\n0 0\nready\n")
    status = embedded.status(pgdata)
    assert status.state == "stopped" and "stale" in status.detail
    embedded.start(pgdata)
    assert embedded.status(pgdata).state == "running"


def test_reset_deletes_the_cluster(pgdata):
    embedded.start(pgdata)
    embedded.reset(pgdata)
    assert not pgdata.exists()
