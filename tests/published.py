"""The corpora as their authors publish them, rebuilt from the project's shared copies (for the readers'
and `toolkit data fetch`'s tests): MR in Windows-1252; the multi-domain reviews as pseudo-XML (no
declaration, no root, bare ``&`` and ``<``, HTML entities for non-ASCII characters, Latin-1 bytes where the
shared copy has U+FFFD) under ``sorted_data_acl/`` with ``kitchen_&_housewares/``."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from toolkit.training.datasets import multi_domain

MR_FILES = ("rt-polarity.neg", "rt-polarity.pos")
#: The archive's folder name of each domain.
ARCHIVE_DOMAINS = {"books": "books", "dvd": "dvd", "electronics": "electronics", "kitchen": "kitchen_&_housewares"}


def mr_cp1252(src: Path, dest: Path) -> Path:
    """``dest`` with ``rt-polarity.{pos,neg}`` re-encoded from the UTF-8 copy in ``src`` to Windows-1252."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in MR_FILES:
        text = (src / name).read_bytes().decode("utf-8")
        (dest / name).write_bytes(text.encode("cp1252"))  # strict: the copy must re-encode without loss
    return dest


def _pseudo(value: str) -> bytes:
    """A value as the authors' files hold it: bare & and <, non-ASCII as HTML entities, U+FFFD as a Latin-1 byte."""
    out = bytearray()
    for ch in value:
        if ch == "\ufffd":
            out += b"\xe9"
        elif ord(ch) > 127:
            out += f"&#{ord(ch)};".encode("ascii")
        else:
            out += ch.encode("ascii")
    return bytes(out)


def pseudo_xml(src_file: Path) -> bytes:
    """A shared-copy ``.review`` file as the authors' pseudo-XML: every tag of every review, in order."""
    reviews = multi_domain.parse_reviews(src_file.read_bytes().decode("utf-8"))
    out = bytearray()
    for review in reviews:
        out += b"<review>\n"
        for tag, value in review.items():
            out += f"<{tag}>\n".encode() + _pseudo(value) + f"\n</{tag}>\n".encode()
        out += b"</review>\n"
    return bytes(out)


def multi_domain_original(src: Path, dest: Path, *, unlabeled: bool = True) -> Path:
    """``dest/sorted_data_acl/<archive domain>/{positive,negative}.review`` in pseudo-XML (and a small
    ``unlabeled.review`` each, as the archive has); returns ``dest/sorted_data_acl``."""
    root = dest / "sorted_data_acl"
    for domain, folder in ARCHIVE_DOMAINS.items():
        (root / folder).mkdir(parents=True, exist_ok=True)
        for name in multi_domain.FILES:
            (root / folder / name).write_bytes(pseudo_xml(src / domain / name))
        if unlabeled:
            (root / folder / "unlabeled.review").write_bytes(b"<review>\n<review_text>\nno label\n</review_text>\n"
                                                            b"</review>\n")
    return root


def tar_gz(folder: Path, out: Path, *, extra: dict[str, bytes] | None = None) -> Path:
    """A .tar.gz of everything under ``folder`` (names relative to it), plus ``extra`` name -> bytes."""
    with tarfile.open(out, "w:gz", compresslevel=1) as tar:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                tar.add(path, arcname=str(path.relative_to(folder)))
        for name, data in (extra or {}).items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out
