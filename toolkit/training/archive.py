"""Download a file and unpack a tar archive safely: the network and archive half of ``toolkit data fetch``.

Standard library only (``rich`` for the progress bar, imported only when a bar
is shown). The archive is checked member by member before anything is written
(no absolute paths, no ``..``, no links out, no devices, a size limit).
"""

from __future__ import annotations

import gzip
import http.client
import logging
import os
import shutil
import stat
import sys
import tarfile
import urllib.error
import urllib.parse
import urllib.request
import zlib
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Callable

from toolkit.core.errors import FetchError

logger = logging.getLogger("toolkit.training.fetch")

_CHUNK = 64 * 1024
# The real archives are 1-30 MB packed, at most ~100 MB unpacked; refuse anything absurdly larger.
_MAX_UNPACKED_BYTES = 512 * 1024 * 1024
# tarfile.FilterError exists on Python >= 3.10.12 / 3.11.4.
_FILTER_ERRORS: tuple[type[BaseException], ...] = tuple(
    e for e in (getattr(tarfile, "FilterError", None),) if e is not None
)

_HAND_HINT = (
    "download review_polarity.tar.gz by hand from {url}, unpack it and pass the "
    "folder that holds txt_sentoken with --data"
)


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


def _download(url: str, target: Path, *, progress: bool, timeout: float, hint: str | None = None) -> int:
    """Stream ``url`` into ``target``; returns the number of bytes written. ``hint``: what to do instead,
    ending the messages of a failed download (default: the polarity corpus's)."""
    from toolkit import __version__

    hint = hint or _HAND_HINT.format(url=url)
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
                f"{_MAX_UNPACKED_BYTES // 2**20} MiB, far more than any corpus toolkit fetches"
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


def _unpack(archive: Path, into: Path, url: str, keep: Callable[[str], bool] | None = None) -> None:
    """Unpack ``archive`` into ``into`` after checking every member; ``keep(name)``: only the members it
    accepts are written (folders always are)."""
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
            if keep is not None:
                members = [m for m in members if m.isdir() or keep(m.name)]
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
