"""A Voilà server of the workbench (``serve.start``) for one test module, on a copy of some app notebooks."""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from euralis_lib import config
from euralis_lib.serving import serve
from euralis_lib.serving.browser import free_port


def copy_apps(folder: Path, pages: Iterable[str] | None = None) -> Path:
    """Copy the app notebooks of ``pages`` (slugs; all by default) into ``folder``; the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    notebooks = (config.NOTEBOOKS_DIR / "apps").glob("*.ipynb") if pages is None else \
        (config.NOTEBOOKS_DIR / "apps" / f"{slug}.ipynb" for slug in pages)
    for notebook in notebooks:
        shutil.copy(notebook, folder / notebook.name)
    return folder


@contextmanager
def voila_server(apps: Path, env: dict[str, str], timeout: float = 120, pool_size: int = 1,
                 extra: tuple[str, ...] = ()) -> Iterator[int]:
    """Voilà (with login) serving ``apps`` on a free port with ``env``, its log in ``apps/voila.log``; yields the
    port once it answers, stops it (and its kernels) on exit."""
    port = free_port()
    proc = serve.start(port, env=env, log_path=apps / "voila.log", apps_dir=apps, pool_size=pool_size, extra=extra)
    try:
        serve.wait_ready(proc, port, timeout=timeout)
        yield port
    finally:
        serve.stop(proc)
