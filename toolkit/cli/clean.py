"""``toolkit clean PATH``: remove what killed toolkit processes left behind.

Every command writes its output next to the target first (``.<name>.toolkit-tmp-<pid>-<host>-XXXX``,
:mod:`toolkit.core.atomic`: bundles, model folders, ``toolkit score``'s outputs and their engines'
folders of parts, vocabularies, predictions) and renames it into place; an error, Ctrl-C or SIGTERM
removes that temporary work, but SIGKILL, a crash or a power cut cannot. The next write to the same
target sweeps such leftovers; this command sweeps them on demand, in sub-folders too. Only work of
processes of this machine that are gone is removed: a running command's temporary files are never
touched.
"""

from __future__ import annotations

from pathlib import Path
from typing import List

import typer

from toolkit.cli.common import cli_errors
from toolkit.core.errors import ToolkitError


def register(app: typer.Typer) -> None:
    """Add ``clean`` to the main app."""
    app.command("clean")(clean_cmd)


def clean_paths(paths: List[Path], dry_run: bool = False) -> list[Path]:
    """Stale temporary work for each path: anywhere under it when it is a folder
    (:func:`toolkit.core.atomic.sweep_folder`), and beside it (its own leftovers as a target,
    :func:`toolkit.core.atomic.sweep_stale`). Removed unless ``dry_run``; returns what was (or would be)
    removed."""
    from toolkit.core.atomic import sweep_folder, sweep_stale

    for path in paths:
        if not path.exists() and not path.parent.is_dir():
            raise ToolkitError(f"{path} does not exist, nor does its folder {path.parent}")
    found: set[Path] = set()
    for path in paths:
        if path.is_dir():
            found.update(sweep_folder(path, dry_run=dry_run))
        found.update(sweep_stale(path, dry_run=dry_run))
    return sorted(found)


@cli_errors
def clean_cmd(
    paths: List[Path] = typer.Argument(..., help="Output paths or folders to sweep (e.g. runs, exports/cnn)."),
    dry_run: bool = typer.Option(False, "--dry-run", "-n", help="List what would be removed; remove nothing."),
) -> None:
    """Remove temporary files and folders left by killed toolkit commands (never a running one's)."""
    removed = clean_paths(list(paths), dry_run=dry_run)
    verb = "would remove" if dry_run else "removed"
    for path in removed:
        typer.echo(f"{verb}: {path}")
    typer.echo(f"{verb} {len(removed)} leftover{'s' if len(removed) != 1 else ''}")
