"""Download and check Pang & Lee's polarity dataset v2.0.

Serving-half module: standard library only (plus ``rich`` for the progress bar,
imported only when a bar is shown). Never imports TensorFlow.

``fetch_polarity(dest)`` downloads ``review_polarity.tar.gz`` from its public
home, unpacks it safely into a temporary folder next to ``dest``, checks it with
:func:`verify_polarity` and only then renames it into place, so an interrupted or
failed fetch never leaves a half-written corpus that looks valid. The result::

    dest/txt_sentoken/pos/cv000_29590.txt ... (1,000 files)
    dest/txt_sentoken/neg/cv000_29416.txt ... (1,000 files)
    dest/poldata.README.2.0

A copy downloaded by hand can be fetched the same way with a ``file://`` URL.
"""

from __future__ import annotations

import gzip
import http.client
import logging
import os
import re
import shutil
import stat
import sys
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zlib
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Callable

from toolkit.errors import FetchError

__all__ = ["POLARITY_URL", "fetch_polarity", "verify_polarity", "EXPECTED_PER_LABEL"]

logger = logging.getLogger(__name__)

POLARITY_URL = "https://www.cs.cornell.edu/people/pabo/movie-review-data/review_polarity.tar.gz"

LABELS = ("pos", "neg")
EXPECTED_PER_LABEL = 1000
README_NAME = "poldata.README.2.0"
SENTOKEN = "txt_sentoken"

_NAME_RE = re.compile(r"cv(\d{3})_\d+\.txt")
_CHUNK = 64 * 1024
# The real archive is ~3 MB packed, ~8 MB unpacked; refuse anything absurdly larger.
_MAX_UNPACKED_BYTES = 512 * 1024 * 1024
# tarfile.FilterError exists on Python >= 3.10.12 / 3.11.4.
_FILTER_ERRORS: tuple[type[BaseException], ...] = tuple(
    e for e in (getattr(tarfile, "FilterError", None),) if e is not None
)
_HAND_HINT = (
    "download review_polarity.tar.gz by hand from {url}, unpack it and pass the "
    "folder that holds txt_sentoken with --data"
)


# --------------------------------------------------------------------------- verify


def _sentoken_dir(root: Path) -> Path:
    """``root/txt_sentoken`` if it exists, else ``root`` when it is txt_sentoken itself."""
    root = Path(root)
    if not root.exists():
        raise FetchError(f"polarity corpus folder {root} does not exist")
    if not root.is_dir():
        raise FetchError(f"polarity corpus path {root} is not a folder")
    if (root / SENTOKEN).is_dir():
        return root / SENTOKEN
    if root.name == SENTOKEN or all((root / label).is_dir() for label in LABELS):
        return root
    raise FetchError(
        f"{root} holds no {SENTOKEN} folder (expected {root / SENTOKEN}/pos and "
        f"{root / SENTOKEN}/neg, {EXPECTED_PER_LABEL:,} reviews each)"
    )


def _verify_sentoken(sentoken: Path, shown: str) -> dict:
    """Check ``sentoken/{pos,neg}``; ``shown`` is how the folder is named in messages."""
    counts: dict[str, int] = {}
    for label in LABELS:
        folder = sentoken / label
        where = f"{shown}/{label}"
        if not folder.is_dir():
            raise FetchError(f"{where} is missing (expected a folder of {EXPECTED_PER_LABEL:,} reviews)")
        names = sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
        bad = [n for n in names if not _NAME_RE.fullmatch(n) or not (folder / n).is_file()]
        if bad:
            more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
            raise FetchError(
                f"{where} holds {len(bad)} unexpected entr{'y' if len(bad) == 1 else 'ies'} "
                f"({', '.join(bad[:5])}{more}); review files are named cvNNN_NNNN.txt"
            )
        if len(names) != EXPECTED_PER_LABEL:
            diff = EXPECTED_PER_LABEL - len(names)
            what = f"{diff} missing" if diff > 0 else f"{-diff} too many"
            raise FetchError(
                f"{where} holds {len(names)} review files, expected {EXPECTED_PER_LABEL} ({what})"
            )
        tags: dict[str, str] = {}
        for name in names:
            tag = name[:5]
            if tag in tags:
                raise FetchError(f"{where} has two files for fold tag {tag}: {tags[tag]} and {name}")
            tags[tag] = name
        for name in names:
            path = folder / name
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise FetchError(f"cannot read {where}/{name}: {exc.strerror or exc}") from exc
            if not data.strip():
                raise FetchError(f"{where}/{name} is empty")
            try:
                data.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise FetchError(
                    f"{where}/{name} is not UTF-8 text (byte {exc.start}: {data[exc.start:exc.start + 1]!r})"
                ) from exc
        counts[label] = len(names)
    counts["files"] = sum(counts[label] for label in LABELS)
    return counts


def verify_polarity(root: Path) -> dict:
    """Check a polarity v2.0 corpus and return ``{"pos": 1000, "neg": 1000, "files": 2000}``.

    ``root`` is the folder that holds ``txt_sentoken`` or ``txt_sentoken`` itself.
    Raises :class:`FetchError` naming the folder or file that is wrong.
    """
    sentoken = _sentoken_dir(Path(root))
    return _verify_sentoken(sentoken, str(sentoken))


# --------------------------------------------------------------------------- helpers


def _make_writable(func, path, _exc) -> None:  # shutil.rmtree onexc / onerror
    parent = os.path.dirname(path)
    for p in (parent, path):
        try:
            os.chmod(p, os.stat(p).st_mode | stat.S_IWUSR | stat.S_IXUSR | stat.S_IRUSR)
        except OSError:
            pass
    func(path)


def _remove(path: Path) -> None:
    """Remove a file or folder tree, read-only parts included; never raises."""
    try:
        if path.is_symlink() or path.is_file():
            path.unlink()
        elif path.is_dir():
            if sys.version_info >= (3, 12):
                shutil.rmtree(path, onexc=_make_writable)
            else:
                shutil.rmtree(path, onerror=_make_writable)
    except OSError as exc:  # pragma: no cover - best effort cleanup
        logger.warning("could not remove temporary path %s: %s", path, exc)


def _say(message: str, show: bool) -> None:
    logger.info(message)
    if show:
        print(message, file=sys.stderr)


# --------------------------------------------------------------------------- download


def _download(url: str, target: Path, *, progress: bool, timeout: float) -> int:
    """Stream ``url`` into ``target``; returns the number of bytes written."""
    from toolkit import __version__

    hint = _HAND_HINT.format(url=url)
    try:
        request = urllib.request.Request(url, headers={"User-Agent": f"toolkit/{__version__}"})
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        raise FetchError(f"download failed: HTTP {exc.code} {exc.reason} for {url}") from exc
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, TimeoutError):
            why = f"timed out after {timeout:g} s"
        elif isinstance(reason, ConnectionRefusedError):
            why = "connection refused"
        else:
            why = str(getattr(reason, "strerror", None) or reason)
        raise FetchError(f"could not reach {url}: {why}; {hint}") from exc
    except TimeoutError as exc:
        raise FetchError(f"could not reach {url}: timed out after {timeout:g} s; {hint}") from exc
    except (OSError, http.client.HTTPException) as exc:  # reset, bad status line, ...
        raise FetchError(f"could not download {url}: {exc!r}; {hint}") from exc
    except ValueError as exc:  # not a URL urllib understands
        raise FetchError(f"cannot download {url!r}: {exc}") from exc

    with response:
        length_header = response.headers.get("Content-Length")
        try:
            total = int(length_header) if length_header else None
        except ValueError:
            total = None
        written = 0
        with open(target, "wb") as out, _ProgressBar(total, url, progress) as advance:
            while True:
                try:
                    chunk = response.read(_CHUNK)
                except TimeoutError as exc:
                    raise FetchError(
                        f"download of {url} stalled: no data for {timeout:g} s after "
                        f"{written:,} bytes; {hint}"
                    ) from exc
                except (OSError, http.client.HTTPException) as exc:
                    raise FetchError(
                        f"download of {url} broke off after {written:,} bytes ({exc!r}); {hint}"
                    ) from exc
                if not chunk:
                    break
                out.write(chunk)
                written += len(chunk)
                advance(len(chunk))
    if total is not None and written < total:
        raise FetchError(f"download of {url} is incomplete: got {written:,} of {total:,} bytes; {hint}")
    return written


class _ProgressBar:
    """Context manager yielding ``advance(n)``; a rich bar when ``show`` is true."""

    def __init__(self, total: int | None, url: str, show: bool):
        self.total, self.url, self.show = total, url, show
        self._progress = None

    def __enter__(self) -> Callable[[int], None]:
        if not self.show:
            return lambda n: None
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self._progress.start()
        name = PurePosixPath(urllib.parse.urlparse(self.url).path).name or self.url
        task = self._progress.add_task(f"downloading {name}", total=self.total)
        progress = self._progress
        return lambda n: progress.advance(task, n)

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.stop()


# --------------------------------------------------------------------------- unpack


def _unsafe_reason(member: tarfile.TarInfo) -> str | None:
    name = member.name
    if name.startswith(("/", "\\")) or PurePosixPath(name).is_absolute() or PureWindowsPath(name).is_absolute():
        return "absolute path"
    if PureWindowsPath(name).drive:
        return "drive letter"
    if ".." in PurePosixPath(name).parts or ".." in PureWindowsPath(name).parts:
        return "'..' in path"
    if not (member.isfile() or member.isdir()):
        return "not a regular file or folder"
    return None


def _checked_members(tar: tarfile.TarFile, url: str) -> list[tarfile.TarInfo]:
    total = 0
    members = tar.getmembers()
    for member in members:
        reason = _unsafe_reason(member)
        if reason:
            raise FetchError(f"refusing to unpack the archive from {url}: member {member.name!r} is unsafe ({reason})")
        total += max(member.size, 0)
        if total > _MAX_UNPACKED_BYTES:
            raise FetchError(
                f"refusing to unpack the archive from {url}: it unpacks to more than "
                f"{_MAX_UNPACKED_BYTES // 2**20} MiB, far more than the polarity corpus"
            )
    return members


def _normalise_mode(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo | None:
    """tarfile 'data' filter, then plain 0755/0644 modes so the corpus is removable."""
    data_filter = getattr(tarfile, "data_filter", None)
    if data_filter is not None:
        member = data_filter(member, dest)
        if member is None:
            return None
    mode = 0o755 if member.isdir() else 0o644
    if hasattr(member, "replace"):
        return member.replace(mode=mode, deep=False)
    member.mode = mode  # pragma: no cover - Python without extraction filters
    return member


def _unpack(archive: Path, into: Path, url: str) -> None:
    with open(archive, "rb") as fh:
        magic = fh.read(2)
    if magic != b"\x1f\x8b":
        with open(archive, "rb") as fh:
            head = fh.read(40)
        raise FetchError(
            f"the file downloaded from {url} is not a gzip tar archive "
            f"(it starts with {head!r}); check the URL"
        )
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = _checked_members(tar, url)
            if hasattr(tarfile, "data_filter"):
                tar.extractall(into, members=members, filter=_normalise_mode)
            else:  # pragma: no cover - old Python: our own member checks above apply
                for member in members:
                    member.mode = 0o755 if member.isdir() else 0o644
                tar.extractall(into, members=members)
    except FetchError:
        raise
    except _FILTER_ERRORS as exc:
        raise FetchError(f"refusing to unpack the archive from {url}: {exc}") from exc
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise FetchError(f"the file downloaded from {url} is not a valid gzip tar archive ({exc})") from exc
    except OSError as exc:  # a file-system error: disk full, permissions
        raise FetchError(f"could not unpack the archive from {url} into {into}: {exc}") from exc


def _find_root(unpacked: Path, url: str) -> Path:
    """Folder holding txt_sentoken: the top level, or one folder below it."""
    if (unpacked / SENTOKEN).is_dir():
        return unpacked
    candidates = [d for d in unpacked.iterdir() if d.is_dir() and (d / SENTOKEN).is_dir()]
    if len(candidates) == 1:
        return candidates[0]
    top = sorted(p.name + ("/" if p.is_dir() else "") for p in unpacked.iterdir())
    if not candidates:
        listing = ", ".join(top[:10]) or "nothing"
        raise FetchError(
            f"the archive from {url} holds no {SENTOKEN} folder (its top level holds: {listing}); "
            "is it the polarity dataset v2.0?"
        )
    raise FetchError(f"the archive from {url} holds several {SENTOKEN} folders: {', '.join(top)}")


# --------------------------------------------------------------------------- fetch


def fetch_polarity(
    dest: Path,
    url: str = POLARITY_URL,
    *,
    overwrite: bool = False,
    progress: bool = True,
    timeout: float = 60,
) -> Path:
    """Download, unpack and check the polarity corpus into ``dest``; return ``dest/txt_sentoken``.

    If ``dest`` already holds a valid corpus it is returned without downloading
    (unless ``overwrite``). If ``dest`` exists but is not a valid corpus, a
    :class:`FetchError` is raised unless ``overwrite`` is set (an empty folder is
    filled). The archive is unpacked and verified in a temporary folder next to
    ``dest`` and renamed into place only when it checks out; temporary files are
    removed on any failure, Ctrl-C included. ``progress`` shows a download bar and
    status lines on stderr.
    """
    dest = Path(dest).expanduser().absolute()
    if dest.is_symlink() or dest.exists():
        if dest.is_dir() and not overwrite:
            if not any(dest.iterdir()):
                pass  # an empty folder: fill it
            else:
                try:
                    counts = verify_polarity(dest)
                except FetchError as exc:
                    raise FetchError(
                        f"{dest} exists but is not a valid polarity corpus ({exc.message}); "
                        "pass --overwrite to replace it or choose another --dest"
                    ) from exc
                sentoken = _sentoken_dir(dest)
                _say(f"polarity corpus already present at {sentoken} ({counts['files']:,} reviews)", progress)
                return sentoken
        elif not overwrite:
            raise FetchError(f"{dest} exists and is not a folder; pass --overwrite or choose another --dest")

    parent = dest.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FetchError(f"cannot create {parent}: {exc}") from exc

    temps: list[Path] = []
    try:
        return _fetch_into(dest, parent, url, temps, progress=progress, timeout=timeout)
    except OSError as exc:  # file-system trouble next to dest: permissions, disk full
        raise FetchError(f"could not write the polarity corpus to {dest}: {exc}") from exc
    finally:
        for path in reversed(temps):
            _remove(path)


def _fetch_into(dest: Path, parent: Path, url: str, temps: list[Path], *, progress: bool, timeout: float) -> Path:
    """Download, unpack, verify and move into place; every temporary path goes into ``temps``."""
    fd, archive_name = tempfile.mkstemp(dir=parent, prefix=f".{dest.name}.", suffix=".tar.gz.part")
    os.close(fd)
    archive = Path(archive_name)
    temps.append(archive)
    staging = Path(tempfile.mkdtemp(dir=parent, prefix=f".{dest.name}.unpack-"))
    temps.append(staging)
    os.chmod(staging, 0o755)  # mkdtemp makes it 0700; it may become dest itself

    size = _download(url, archive, progress=progress, timeout=timeout)
    logger.info("downloaded %s (%d bytes)", url, size)
    _unpack(archive, staging, url)
    _remove(archive)
    root = _find_root(staging, url)
    counts = _verify_sentoken(root / SENTOKEN, f"archive folder {SENTOKEN}")
    if not (root / README_NAME).is_file():
        logger.warning("the archive from %s has no %s", url, README_NAME)

    _move_into_place(root, dest, parent, temps)
    sentoken = dest / SENTOKEN
    _say(f"polarity corpus ready at {sentoken} ({counts['files']:,} reviews)", progress)
    return sentoken


def _move_into_place(root: Path, dest: Path, parent: Path, temps: list[Path]) -> None:
    """Rename the verified ``root`` to ``dest``, replacing what is there (kept until it succeeds)."""
    backup: Path | None = None
    if dest.is_symlink() or dest.exists():
        if dest.is_dir() and not dest.is_symlink() and not any(dest.iterdir()):
            dest.rmdir()
        else:
            holder = Path(tempfile.mkdtemp(dir=parent, prefix=f".{dest.name}.old-"))
            temps.append(holder)
            backup = holder / dest.name
            os.rename(dest, backup)
    try:
        os.rename(root, dest)
    except BaseException as exc:  # Ctrl-C included: put the old corpus back
        if backup is not None:
            os.rename(backup, dest)
        if isinstance(exc, OSError):
            raise FetchError(f"could not move the unpacked corpus into {dest}: {exc}") from exc
        raise
