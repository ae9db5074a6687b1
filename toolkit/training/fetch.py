"""Download and check the public corpora: ``toolkit data fetch polarity | mr | multi-domain``.

Standard library only (plus ``rich`` for the progress bar,
imported only when a bar is shown). Never imports TensorFlow.

Each ``fetch_*`` downloads the corpus's archive from its public home, unpacks it
safely into a temporary folder next to ``dest``, checks it and only then renames
it into place, so an interrupted or failed fetch never leaves a half-written
corpus that looks valid (nor anything else). The results::

    polarity      dest/txt_sentoken/{pos,neg}/cvNNN_NNNNN.txt (1,000 each), dest/poldata.README.2.0
    mr            dest/rt-polarity.pos, dest/rt-polarity.neg (5,331 snippets each, Windows-1252 as published)
    multi-domain  dest/{books,dvd,electronics,kitchen}/{positive,negative}.review (1,000 reviews each,
                  the authors' pseudo-XML; the archive's unlabeled.review files are not unpacked)

The check: the expected files and counts, and a **content digest**: sha256 over the
parsed documents (:mod:`toolkit.training.datasets.digest`), pinned from the project's
copies. Not a checksum of the archive's bytes: those could not be computed where the
digests were pinned (no network), and the same corpus exists in several encodings and
markups; a correct parse of the published archive gives the same documents, so the same
digest, and an archive whose reviews were changed, dropped or added does not.

A copy downloaded by hand can be fetched the same way with a ``file://`` URL.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable

from toolkit.core.atomic import make_temp_dir, refuse_existing, temp_file
from toolkit.core.errors import CorpusError, FetchError
from toolkit.training.archive import _download, _remove, _say, _unpack
from toolkit.training.datasets import mr, multi_domain, polarity
from toolkit.training.datasets.digest import content_digest

__all__ = ["POLARITY_URL", "MR_URL", "MULTI_DOMAIN_URL", "FETCHABLE", "fetch_corpus", "fetch_polarity",
           "fetch_mr", "fetch_multi_domain", "verify_polarity", "verify_mr", "verify_multi_domain",
           "EXPECTED_PER_LABEL", "DIGESTS"]

logger = logging.getLogger(__name__)

POLARITY_URL = "https://www.cs.cornell.edu/people/pabo/movie-review-data/review_polarity.tar.gz"
MR_URL = "https://www.cs.cornell.edu/people/pabo/movie-review-data/rt-polaritydata.tar.gz"
MULTI_DOMAIN_URL = "https://www.cs.jhu.edu/~mdredze/datasets/sentiment/domain_sentiment_data.tar.gz"

LABELS = ("pos", "neg")
EXPECTED_PER_LABEL = 1000
README_NAME = "poldata.README.2.0"
SENTOKEN = "txt_sentoken"
#: The pinned content digests (None: not checked).
DIGESTS: dict[str, str | None] = {"polarity": polarity.CONTENT_SHA256, "mr": mr.CONTENT_SHA256,
                                  "multi-domain": multi_domain.CONTENT_SHA256}
MR_README = "rt-polaritydata.README.1.0.txt"

_NAME_RE = re.compile(r"cv(\d{3})_\d+\.txt")


def _check_digest(name: str, got: str, shown: str, source: str) -> None:
    """Refuse content whose digest is not the pinned one; ``source`` says where it came from."""
    want = DIGESTS.get(name)
    if want is not None and got != want:
        raise FetchError(
            f"{shown}{source}: its reviews are not the published {name} corpus's (content sha256 {got[:16]}..., "
            f"expected {want[:16]}...: a review was changed, dropped or added)"
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


def _verify_sentoken(sentoken: Path, shown: str, source: str = "") -> dict:
    """Check ``sentoken/{pos,neg}`` and its content digest; ``shown`` is how the folder is named in
    messages, ``source`` (e.g. "; the archive from URL") ends a digest mismatch's."""
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
    try:
        corpus = polarity.read_polarity(sentoken)
    except CorpusError as exc:
        raise FetchError(f"{shown}: {exc.message}") from exc
    _check_digest("polarity", content_digest(polarity.digest_rows(corpus)), shown, source)
    return counts


def verify_polarity(root: Path) -> dict:
    """Check a polarity v2.0 corpus and return ``{"pos": 1000, "neg": 1000, "files": 2000}``.

    ``root`` is the folder that holds ``txt_sentoken`` or ``txt_sentoken`` itself. Checked: the
    file names and counts, UTF-8 text, and the content digest (the module's docstring).
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


# --------------------------------------------------------------------------- MR and multi-domain


def _find_folder(unpacked: Path, holds: Callable[[Path], bool], what: str, url: str, archive: str) -> Path:
    """The one folder ``holds`` accepts: the top level, or one or two folders below it."""
    level = [unpacked]
    for _ in range(3):
        found = [d for d in level if holds(d)]
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            names = ", ".join(sorted(str(d.relative_to(unpacked)) for d in found))
            raise FetchError(f"the archive from {url} holds several {what} folders: {names}")
        level = sorted(c for d in level for c in d.iterdir() if c.is_dir())
    top = sorted(p.name + ("/" if p.is_dir() else "") for p in unpacked.iterdir())
    raise FetchError(f"the archive from {url} holds no {what} (its top level holds: {', '.join(top[:10]) or 'nothing'}); "
                     f"is it {archive}?")


def _shown(path: Path, unpacked: Path | None) -> str:
    """How a folder is named in messages: inside the archive relative to its top, else as it is."""
    if unpacked is not None:
        return "archive folder " + (str(path.relative_to(unpacked)) if path != unpacked else ".")
    return str(path)


def _reader_error(exc: CorpusError, unpacked: Path | None) -> FetchError:
    """A reader's message, with the temporary folder an archive was unpacked in left out of its paths."""
    message = exc.message
    if unpacked is not None:
        message = "the archive's " + message.replace(f"{unpacked}{os.sep}", "")
    return FetchError(message)


def verify_mr(folder: Path, *, unpacked: Path | None = None, source: str = "") -> dict:
    """Check an MR folder (rt-polarity.pos / .neg, 5,331 snippets each, UTF-8 or Windows-1252, the content
    digest) and return ``{"NEGATIVE": 5331, "POSITIVE": 5331, "snippets": 10662, "encoding": ...}``."""
    folder = Path(folder)
    shown = _shown(folder, unpacked)
    try:
        corpus = mr.read_mr(folder)
    except CorpusError as exc:
        raise _reader_error(exc, unpacked) from exc
    counts = corpus.label_counts()
    for label, file in mr.FILES.items():
        if counts.get(label, 0) != mr.EXPECTED_PER_LABEL:
            raise FetchError(f"{shown}/{file} holds {counts.get(label, 0):,} snippets, expected "
                             f"{mr.EXPECTED_PER_LABEL:,}")
    _check_digest("mr", content_digest(mr.digest_rows(corpus)), shown, source)
    return {**counts, "snippets": len(corpus), "encoding": corpus.encoding}


def verify_multi_domain(folder: Path, *, unpacked: Path | None = None, source: str = "") -> dict:
    """Check a multi-domain folder (four domains, positive.review / negative.review with 1,000 reviews each,
    every rating a number its file allows, the content digest) and return ``{"reviews": 8000, "books": 2000,
    ...}``."""
    folder = Path(folder)
    try:
        corpus = multi_domain.read_multi_domain(folder)
    except CorpusError as exc:
        raise _reader_error(exc, unpacked) from exc
    shown = _shown(Path(corpus.folder), unpacked)
    for domain in multi_domain.DOMAINS:
        for file, label in multi_domain.FILES.items():
            n = sum(1 for d in corpus if d.fields["domain"] == domain and d.label == label)
            if n != multi_domain.EXPECTED_PER_FILE:
                where = multi_domain.domain_dir(Path(corpus.folder), domain).name
                raise FetchError(f"{shown}/{where}/{file} holds {n:,} reviews, expected "
                                 f"{multi_domain.EXPECTED_PER_FILE:,}")
    _check_digest("multi-domain", content_digest(multi_domain.digest_rows(corpus)), shown, source)
    per_domain = {domain: sum(1 for d in corpus if d.fields["domain"] == domain) for domain in multi_domain.DOMAINS}
    return {"reviews": len(corpus), **per_domain}


# --------------------------------------------------------------------------- fetch


def _by_hand(archive: str, url: str) -> str:
    return (f"download {archive} by hand from {url} and run this again with --url file:///path/to/{archive}")


def _install_polarity(unpacked: Path, url: str, new_dir: Callable[[], Path]) -> tuple[Path, dict]:
    root = _find_root(unpacked, url)
    counts = _verify_sentoken(root / SENTOKEN, f"archive folder {SENTOKEN}", f" (from {url})")
    if not (root / README_NAME).is_file():
        logger.warning("the archive from %s has no %s", url, README_NAME)
    return root, counts


def _install_mr(unpacked: Path, url: str, new_dir: Callable[[], Path]) -> tuple[Path, dict]:
    holds = lambda d: any((d / f).is_file() for f in mr.FILES.values())  # noqa: E731
    folder = _find_folder(unpacked, holds, "rt-polarity.pos / rt-polarity.neg", url, "rt-polaritydata.tar.gz")
    counts = verify_mr(folder, unpacked=unpacked, source=f" (from {url})")
    work = new_dir()
    for file in mr.FILES.values():
        os.rename(folder / file, work / file)
    readme = next((d / MR_README for d in (folder, unpacked) if (d / MR_README).is_file()), None)
    if readme is not None:
        os.rename(readme, work / MR_README)
    return work, counts


def _install_multi_domain(unpacked: Path, url: str, new_dir: Callable[[], Path]) -> tuple[Path, dict]:
    holds = lambda d: any(multi_domain.domain_dir(d, dom).is_dir() for dom in multi_domain.DOMAINS)  # noqa: E731
    root = _find_folder(unpacked, holds, "domain folders (books, dvd, electronics, kitchen)", url,
                        "domain_sentiment_data.tar.gz")
    counts = verify_multi_domain(root, unpacked=unpacked, source=f" (from {url})")
    work = new_dir()
    for domain in multi_domain.DOMAINS:
        (work / domain).mkdir()
        for file in multi_domain.FILES:
            os.rename(multi_domain.domain_dir(root, domain) / file, work / domain / file)
    return work, counts


def _verify_existing_polarity(dest: Path) -> tuple[Path, dict]:
    return _sentoken_dir(dest), verify_polarity(dest)


def _keep_labelled(name: str) -> bool:
    """The multi-domain archive's members worth unpacking: not the (large) unlabeled.review files."""
    return PurePosixPath(name).name != "unlabeled.review"


@dataclass(frozen=True)
class _Kind:
    """What fetching one corpus takes."""

    what: str  # "MR corpus": how messages name it
    url: str  # its public home
    dest: Path  # the default --dest
    install: Callable[[Path, str, Callable[[], Path]], tuple[Path, dict]]  # (unpacked, url, new_dir) -> folder
    existing: Callable[[Path], tuple[Path, dict]]  # a copy already at dest -> (path, counts); FetchError if invalid
    summary: Callable[[dict], str]  # counts -> "10,662 snippets"
    archive: str | None = None  # the archive's name, for the download-by-hand hint (None: the polarity hint)
    keep: Callable[[str], bool] | None = None  # the members worth unpacking (None: all)


_KINDS = {
    "polarity": _Kind("polarity corpus", POLARITY_URL, Path("data/review_polarity"), _install_polarity,
                      _verify_existing_polarity, lambda c: f"{c['files']:,} reviews"),
    "mr": _Kind("MR corpus", MR_URL, Path("data/rt-polaritydata"), _install_mr,
                lambda dest: (dest, verify_mr(dest)), lambda c: f"{c['snippets']:,} snippets, {c['encoding']}",
                archive="rt-polaritydata.tar.gz"),
    "multi-domain": _Kind("multi-domain corpus", MULTI_DOMAIN_URL, Path("data/multi_domain"), _install_multi_domain,
                          lambda dest: (dest, verify_multi_domain(dest)), lambda c: f"{c['reviews']:,} reviews",
                          archive="domain_sentiment_data.tar.gz", keep=_keep_labelled),
}
#: The corpora ``toolkit data fetch`` knows.
FETCHABLE = tuple(_KINDS)


def default_dest(name: str) -> Path:
    """Where ``toolkit data fetch NAME`` unpacks by default: ``data/<folder>``."""
    return _KINDS[name].dest


def fetch_corpus(name: str, dest: Path | None = None, url: str | None = None, *, overwrite: bool = False,
                 progress: bool = True, timeout: float = 60) -> tuple[Path, dict]:
    """Download, unpack and check the corpus ``name`` (:data:`FETCHABLE`) into ``dest`` (default
    :func:`default_dest`) from ``url`` (default: its public home); return ``(path, counts)``: ``dest``
    (polarity: ``dest/txt_sentoken``) and what the check counted.

    If ``dest`` already holds a valid copy it is returned without downloading
    (unless ``overwrite``). If ``dest`` exists but is not a valid copy, a
    :class:`FetchError` is raised unless ``overwrite`` is set (an empty folder is
    filled). The archive is unpacked and verified in a temporary folder next to
    ``dest`` and renamed into place only when it checks out; temporary files are
    removed on any failure, Ctrl-C included. ``progress`` shows a download bar and
    status lines on stderr.
    """
    if name not in _KINDS:
        raise FetchError(f"unknown corpus {name!r}; available: {', '.join(FETCHABLE)}")
    kind = _KINDS[name]
    what = kind.what
    url = url or kind.url
    dest = Path(dest if dest is not None else kind.dest).expanduser().absolute()
    if dest.is_symlink() or dest.exists():
        if dest.is_dir() and not overwrite:
            if not any(dest.iterdir()):
                pass  # an empty folder: fill it
            else:
                try:
                    path, counts = kind.existing(dest)
                except FetchError as exc:
                    refuse_existing(dest, overwrite, another="--dest", error=FetchError,
                                    problem=f"exists but is not a valid {what} ({exc.message})")
                    raise  # not reached: overwrite is false here
                _say(f"{what} already present at {path} ({kind.summary(counts)})", progress)
                return path, counts
        elif not dest.is_dir():
            refuse_existing(dest, overwrite, problem="exists and is not a folder", another="--dest", error=FetchError)

    parent = dest.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FetchError(f"cannot create {parent}: {exc}") from exc

    temps: list[Path] = []
    try:
        return _fetch_into(name, dest, parent, url, temps, progress=progress, timeout=timeout)
    except OSError as exc:  # file-system trouble next to dest: permissions, disk full
        raise FetchError(f"could not write the {what} to {dest}: {exc}") from exc
    finally:
        for path in reversed(temps):
            _remove(path)


def fetch_polarity(dest: Path, url: str = POLARITY_URL, *, overwrite: bool = False, progress: bool = True,
                   timeout: float = 60) -> Path:
    """The polarity corpus into ``dest`` (:func:`fetch_corpus`); returns ``dest/txt_sentoken``."""
    return fetch_corpus("polarity", dest, url, overwrite=overwrite, progress=progress, timeout=timeout)[0]


def fetch_mr(dest: Path, url: str = MR_URL, *, overwrite: bool = False, progress: bool = True,
             timeout: float = 60) -> Path:
    """The MR corpus into ``dest`` (:func:`fetch_corpus`): ``dest/rt-polarity.{pos,neg}``; returns ``dest``."""
    return fetch_corpus("mr", dest, url, overwrite=overwrite, progress=progress, timeout=timeout)[0]


def fetch_multi_domain(dest: Path, url: str = MULTI_DOMAIN_URL, *, overwrite: bool = False, progress: bool = True,
                       timeout: float = 60) -> Path:
    """The multi-domain corpus into ``dest`` (:func:`fetch_corpus`): ``dest/<domain>/{positive,negative}.review``;
    returns ``dest``."""
    return fetch_corpus("multi-domain", dest, url, overwrite=overwrite, progress=progress, timeout=timeout)[0]


def _fetch_into(name: str, dest: Path, parent: Path, url: str, temps: list[Path], *, progress: bool,
                timeout: float) -> tuple[Path, dict]:
    """Download, unpack, verify and move into place; every temporary path goes into ``temps``."""
    kind = _KINDS[name]
    # Temporary work named as every output's is (.<dest>.toolkit-tmp-<pid>-<host>-XXXX): a killed fetch's is
    # swept by the next one and by `toolkit clean`.
    fd, archive_name = temp_file(dest, suffix=".tar.gz.part")
    os.close(fd)
    archive = Path(archive_name)
    temps.append(archive)
    staging = make_temp_dir(dest)
    temps.append(staging)
    os.chmod(staging, 0o755)  # mkdtemp makes it 0700; it may become dest itself

    def new_dir() -> Path:
        work = make_temp_dir(dest)
        temps.append(work)
        os.chmod(work, 0o755)
        return work

    hint = _by_hand(kind.archive, url) if kind.archive else None
    size = _download(url, archive, progress=progress, timeout=timeout, hint=hint)
    logger.info("downloaded %s (%d bytes)", url, size)
    _unpack(archive, staging, url, keep=kind.keep)
    _remove(archive)
    root, counts = kind.install(staging, url, new_dir)

    _move_into_place(root, dest, parent, temps)
    path = dest / SENTOKEN if name == "polarity" else dest
    _say(f"{kind.what} ready at {path} ({kind.summary(counts)})", progress)
    return path, counts


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
