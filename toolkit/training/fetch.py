"""Download and check Pang & Lee's polarity dataset v2.0.

Standard library only (plus ``rich`` for the progress bar,
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

import logging
import os
import re
from pathlib import Path

from toolkit.core.atomic import make_temp_dir, refuse_existing, temp_file
from toolkit.core.errors import FetchError
from toolkit.training.archive import _download, _remove, _say, _unpack

__all__ = ["POLARITY_URL", "fetch_polarity", "verify_polarity", "EXPECTED_PER_LABEL"]

logger = logging.getLogger(__name__)

POLARITY_URL = "https://www.cs.cornell.edu/people/pabo/movie-review-data/review_polarity.tar.gz"

LABELS = ("pos", "neg")
EXPECTED_PER_LABEL = 1000
README_NAME = "poldata.README.2.0"
SENTOKEN = "txt_sentoken"

_NAME_RE = re.compile(r"cv(\d{3})_\d+\.txt")


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
                    refuse_existing(dest, overwrite, another="--dest", error=FetchError,
                                    problem=f"exists but is not a valid polarity corpus ({exc.message})")
                    raise  # not reached: overwrite is false here
                sentoken = _sentoken_dir(dest)
                _say(f"polarity corpus already present at {sentoken} ({counts['files']:,} reviews)", progress)
                return sentoken
        elif not dest.is_dir():
            refuse_existing(dest, overwrite, problem="exists and is not a folder", another="--dest", error=FetchError)

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
    # Temporary work named as every output's is (.<dest>.toolkit-tmp-<pid>-<host>-XXXX): a killed fetch's is
    # swept by the next one and by `toolkit clean`.
    fd, archive_name = temp_file(dest, suffix=".tar.gz.part")
    os.close(fd)
    archive = Path(archive_name)
    temps.append(archive)
    staging = make_temp_dir(dest)
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
            holder = make_temp_dir(dest)
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
