"""Outputs written completely or not at all, and temporary work that never outlives its process.

:func:`atomic_dir` writes a folder (a bundle, a trained-model folder, results)
into a temporary folder beside the target and renames it into place;
:func:`temp_file` does the same for one file. Temporary work is named
``.<target>.toolkit-tmp-<pid>-<host>-XXXX`` next to the target; what a process
that no longer exists left (SIGKILL, a crash, a power cut) is removed by the
next write to the same target (:func:`sweep_stale`) and by ``toolkit clean``
(:func:`sweep_folder`); a live process's work, or another host's, is never
touched. :func:`temp_path` names such work for a library that creates it itself
(a scoring engine writing a folder of parts). :func:`refuse_existing` is the one
"exists; pass --overwrite" check, :func:`write_json` the one JSON writer.
Standard library only.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import tempfile
import uuid
from pathlib import Path
from typing import Any, Iterator, Sequence

from toolkit.core.errors import OutputExistsError, OutputNotWritableError, ToolkitError


TEMP_MARK = "toolkit-tmp"
OLD_MARK = "toolkit-old"
_TEMP_RE = re.compile(r"^\.(?P<name>.+)\.toolkit-(?:tmp|old)-(?P<pid>\d+)-(?P<host>[A-Za-z0-9]*)-.+$")


def _host_tag() -> str:
    return re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:24]


def temp_prefix(target: str | os.PathLike, mark: str = TEMP_MARK) -> str:
    """``.<name>.toolkit-tmp-<pid>-<host>-``: the name prefix of temporary work for ``target``."""
    return f".{Path(target).name}.{mark}-{os.getpid()}-{_host_tag()}-"


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return pid < 2**31  # someone else's live process (or a number no process can have)
    return True


def is_stale_temp(path: str | os.PathLike) -> bool:
    """Whether ``path`` is temporary work of a toolkit process of this machine that is gone."""
    match = _TEMP_RE.match(Path(path).name)
    if match is None or match["host"] != _host_tag():
        return False  # not ours, or another machine's (on a shared file system): cannot tell
    return not _pid_alive(int(match["pid"]))


def stale_temp_paths(folder: str | os.PathLike, name: str | None = None) -> list[Path]:
    """Stale temporary work in ``folder`` (only for the target called ``name``, when given)."""
    folder = Path(folder)
    try:
        entries = list(folder.iterdir())
    except OSError:
        return []
    found = []
    for entry in entries:
        match = _TEMP_RE.match(entry.name)
        if match is None or (name is not None and match["name"] != name):
            continue
        if is_stale_temp(entry):
            found.append(entry)
    return sorted(found)


def remove_path(path: Path) -> bool:
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
        return True
    except FileNotFoundError:
        return True
    except OSError:
        return False


def _removed(paths: list[Path], dry_run: bool) -> list[Path]:
    return paths if dry_run else [p for p in paths if remove_path(p)]


def sweep_stale(target: str | os.PathLike, *, dry_run: bool = False) -> list[Path]:
    """Remove the stale temporary work left next to ``target`` by killed toolkit processes;
    returns what was removed (``dry_run``: what would be). Live processes' work, and other
    machines', is never touched."""
    target = Path(target)
    return _removed(stale_temp_paths(target.parent, target.name), dry_run)


def sweep_folder(folder: str | os.PathLike, *, dry_run: bool = False) -> list[Path]:
    """Remove the stale temporary work anywhere under ``folder`` (``toolkit clean``): whatever target it
    was for, in sub-folders too (``toolkit score`` keeps its inputs' sub-folders). Hidden folders
    (temporary work itself, ``.git``, ``.venv``) are not entered and links not followed. Returns what
    was removed (``dry_run``: what would be); live processes' work, and other machines', is never touched."""
    found: list[Path] = []
    for root, dirs, _ in os.walk(folder):
        found += stale_temp_paths(root)
        dirs[:] = [d for d in dirs if not d.startswith(".")]
    return _removed(sorted(found), dry_run)


def temp_path(target: str | os.PathLike, suffix: str = "") -> Path:
    """A new name for temporary work beside ``target``, for a writer that creates the file or folder
    itself (pyarrow's ``ParquetWriter``, a Ray or Spark write); nothing is created. Stale work for
    ``target`` is swept first; the caller renames the work into place or removes it."""
    target = Path(target)
    sweep_stale(target)
    return target.parent / f"{temp_prefix(target)}{uuid.uuid4().hex[:10]}{suffix}"


def refuse_existing(
    path: str | os.PathLike,
    overwrite: bool,
    *,
    what: str = "",
    problem: str = "exists",
    or_pass: str = "",
    replace: str = "it",
    another: str = "",
    error: type[ToolkitError] = OutputExistsError,
) -> None:
    """Refuse an existing output ``path`` (a broken link included) unless ``overwrite``: the one
    "exists; pass --overwrite" check of every command.

    The message reads ``[<what> ]<path> <problem>; pass [<or_pass> or ]--overwrite to replace
    <replace>[, or choose another <another>]``, e.g. ``output folder runs/cnn exists; pass
    --overwrite to replace it``.

    Raises:
        OutputExistsError: (or ``error``) ``path`` exists and ``overwrite`` is false.
    """
    path = Path(path)
    if overwrite or not (path.exists() or path.is_symlink()):
        return
    named = f"{what} {path}" if what else str(path)
    alternative = f"{or_pass} or " if or_pass else ""
    elsewhere = f", or choose another {another}" if another else ""
    raise error(f"{named} {problem}; pass {alternative}--overwrite to replace {replace}{elsewhere}")


def check_parent_writable(target: str | os.PathLike, what: str = "output") -> None:
    """Refuse, before any work, a ``target`` whose folder cannot be created or written.

    Walks up to the first existing ancestor: it must be a folder in which this process can
    create entries (tried for real, so read-only file systems and root's limits count too).

    Raises:
        OutputNotWritableError: naming ``target``, the folder at fault and why.
    """
    target = Path(target)
    parent = target.parent
    ancestor = parent
    while not ancestor.exists():
        if ancestor.is_symlink():
            raise OutputNotWritableError(f"cannot write {what} {target}: {ancestor} is a broken symbolic link")
        if ancestor.parent == ancestor:
            break
        ancestor = ancestor.parent
    if ancestor.exists() and not ancestor.is_dir():
        raise OutputNotWritableError(f"cannot write {what} {target}: {ancestor} is a file, not a folder")
    try:
        probe = tempfile.mkdtemp(prefix=temp_prefix(target), dir=ancestor)
    except OSError as exc:
        raise OutputNotWritableError(
            f"cannot write {what} {target}: folder {ancestor} is not writable ({exc.strerror or exc}); "
            f"choose another location"
        ) from exc
    os.rmdir(probe)


def make_temp_dir(target: str | os.PathLike) -> Path:
    """A new temporary folder next to ``target`` (stale ones for it swept first)."""
    target = Path(target)
    sweep_stale(target)
    return Path(tempfile.mkdtemp(prefix=temp_prefix(target), dir=target.parent))


def temp_file(target: str | os.PathLike, suffix: str = ".tmp") -> tuple[int, str]:
    """``(fd, path)`` of a new temporary file next to ``target`` (stale ones for it swept first)."""
    target = Path(target)
    sweep_stale(target)
    return tempfile.mkstemp(prefix=temp_prefix(target), suffix=suffix, dir=target.parent)


def write_text_atomic(target: str | os.PathLike, text: str, newline: str | None = None) -> None:
    """Write ``text`` (UTF-8) to ``target`` completely or not at all: into :func:`temp_file` beside it (swept
    if this process is killed), then renamed into place, with an ordinary file's permissions."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temp_file(target)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline=newline) as fh:
            fh.write(text)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it 0600
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def private_tempdir(target: str | os.PathLike) -> Iterator[Path]:
    """Point ``tempfile`` and ``$TMPDIR`` at a temporary folder next to ``target`` for the duration.

    For commands whose libraries write scratch files of their own (TensorFlow's autograph
    modules, onnxruntime): they land in ``.<name>.toolkit-tmp-<pid>-<host>-XXXX`` beside the
    output, removed at the end, and swept by the next run if the process is killed, instead of
    piling up in the system's temporary folder. Parent folders created for it are removed
    again when left empty. Process-wide: for the command line, not for library code.
    """
    target = Path(target)
    check_parent_writable(target)
    created = []
    parent = target.parent
    while not parent.exists():
        created.append(parent)
        parent = parent.parent
    target.parent.mkdir(parents=True, exist_ok=True)
    folder = make_temp_dir(target)
    saved = tempfile.tempdir, os.environ.get("TMPDIR")
    tempfile.tempdir = str(folder)
    os.environ["TMPDIR"] = str(folder)
    try:
        yield folder
    finally:
        tempfile.tempdir = saved[0]
        if saved[1] is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = saved[1]
        shutil.rmtree(folder, ignore_errors=True)
        for path in created:  # innermost first
            try:
                path.rmdir()
            except OSError:
                break


def _looks_replaceable(target: Path, expect: Sequence[str]) -> bool:
    if not target.is_dir() or target.is_symlink():
        return False
    if not expect:
        return True
    if not any(target.iterdir()):
        return True  # an empty folder
    return any((target / name).exists() for name in expect)


def _umask() -> int:
    try:  # Linux: read it without changing it (os.umask sets it, for the whole process)
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def as_new_folder(path: str | os.PathLike) -> None:
    """Give a ``mkdtemp`` folder (always 0700) the permissions of a new folder under the umask,
    so a bundle renamed into place is as readable as any folder its user makes."""
    os.chmod(path, 0o777 & ~_umask())


@contextlib.contextmanager
def atomic_dir(
    target: str | os.PathLike,
    overwrite: bool = False,
    *,
    expect: Sequence[str] = (),
) -> Iterator[Path]:
    """Build a folder in a temporary sibling and rename it to ``target`` when complete.

    Yields the temporary folder (``.<name>.toolkit-tmp-<pid>-<host>-XXXX`` next to
    ``target``, so the final rename stays on one file system; stale ones of dead
    processes are swept first). When the ``with`` block ends
    normally the temporary folder becomes ``target``; an existing ``target`` is
    replaced only when ``overwrite`` is true. On any exception (``KeyboardInterrupt``
    included) the temporary folder is removed and ``target`` is left as it was,
    so a folder named ``target`` is always whole.

    ``expect`` guards ``overwrite`` against replacing the wrong folder: when it
    names files (``expect=("bundle.json",)``), an existing non-empty ``target``
    is replaced only if it holds at least one of them. A file or a symlink is
    never replaced.

    Raises:
        OutputExistsError: ``target`` exists and ``overwrite`` is false, or it
            does not look like the kind of folder ``expect`` describes.
    """
    target = Path(target)
    _check_target(target, overwrite, expect)
    check_parent_writable(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = make_temp_dir(target)
    as_new_folder(tmp)
    try:
        yield tmp
        _check_target(target, overwrite, expect)  # it may have appeared meanwhile
        if target.exists():
            old = target.parent / f"{temp_prefix(target, OLD_MARK)}{uuid.uuid4().hex[:8]}"
            os.replace(target, old)
            try:
                os.replace(tmp, target)
            except BaseException:
                os.replace(old, target)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _check_target(target: Path, overwrite: bool, expect: Sequence[str]) -> None:
    if not (target.exists() or target.is_symlink()):
        return
    refuse_existing(target, overwrite, another="--out")
    if not _looks_replaceable(target, expect):
        what = "is not a folder" if not target.is_dir() or target.is_symlink() else (
            f"does not look like one this command writes (it has none of {', '.join(expect)})"
        )
        raise OutputExistsError(f"refusing to replace {target}: it {what}; remove it yourself or choose another --out")


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write ``data`` to ``path`` as JSON indented by 2, keys in their order, non-ASCII characters escaped,
    with a final newline; completely or not at all (:func:`write_text_atomic`).

    The one JSON writer of every output (``bundle.json``, ``model.json``, ``metrics.json``, ``cv.json``,
    scoring's ``_SUCCESS``). The bytes are those ``json.dumps(data, indent=2) + "\\n"`` always gave
    ``model.json``, whose sha256 a bundle records (``source.model_json_sha256``); a bundle's id is
    computed over a canonical form of its ``bundle.json`` (:func:`toolkit.core.bundle.compute_bundle_id`),
    so how that file is spelled does not change it.
    """
    write_text_atomic(path, json.dumps(data, indent=2) + "\n", newline="\n")
