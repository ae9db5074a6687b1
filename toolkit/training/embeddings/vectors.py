"""Word-vector files: detect the format, read, write, describe.

Formats (see :func:`detect_format`):

``glove``
    Text, one vector per line: ``word v1 v2 ... vd``; no header line.
``word2vec``
    Text with a header line ``count dim``, then lines as in GloVe.
``word2vec-binary``
    The header line ``count dim``, then per vector the word in UTF-8, a space
    and ``dim`` little-endian float32 values (gensim and the original C tool
    also write a newline after each vector; it is optional here).

Every problem a user can cause is an :class:`~toolkit.core.errors.EmbeddingError`
naming the file and the line (text) or the vector number (binary). numpy only.
"""

from __future__ import annotations

import mmap
import os
import re
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from toolkit.core.atomic import temp_file
from toolkit.core.errors import EmbeddingError

GLOVE = "glove"
WORD2VEC = "word2vec"
WORD2VEC_BINARY = "word2vec-binary"
FORMATS = (GLOVE, WORD2VEC, WORD2VEC_BINARY)

_HEADER = re.compile(rb"^\s*(\d+)\s+(\d+)\s*$")
_SNIFF_BYTES = 1 << 16

# --------------------------------------------------------------------------
# Format detection
# --------------------------------------------------------------------------
def _check_file(path: Path) -> None:
    if not path.exists():
        raise EmbeddingError(f"vector file {path} does not exist")
    if path.is_dir():
        raise EmbeddingError(f"vector file {path} is a folder, not a file")


def _looks_binary(sample: bytes) -> bool:
    """True when ``sample`` cannot be the start of a UTF-8 text file."""
    if not sample:
        return False
    if b"\x00" in sample:
        return True
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the sample is still text.
        if exc.start < len(sample) - 4:
            return True
        text = sample[: exc.start].decode("utf-8", errors="replace")
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\t\n\r\f\v")
    return controls > 0


def _parse_header(line: bytes) -> tuple[int, int] | None:
    match = _HEADER.match(line)
    if not match:
        return None
    return int(match.group(1)), int(match.group(2))


def _sniff(path: Path) -> tuple[bytes, bytes, bool]:
    """The file's first bytes, what follows its first line, and whether that line is a word2vec header."""
    _check_file(path)
    with open(path, "rb") as fh:
        head = fh.read(_SNIFF_BYTES)
    if not head.strip():
        raise EmbeddingError(f"{path} is empty: expected word vectors (GloVe or word2vec format)")
    first, _, rest = head.partition(b"\n")
    return head, rest, _parse_header(first) is not None


def detect_format(path: str | os.PathLike) -> str:
    """``"glove"``, ``"word2vec"`` or ``"word2vec-binary"``, from the file's first bytes.

    A first line of exactly two integers (``count dim``) is a word2vec header;
    what follows it is binary or text. No header: GloVe text. A file that looks
    binary but has no header is refused.
    """
    path = Path(path)
    head, rest, has_header = _sniff(path)
    if has_header:
        return WORD2VEC_BINARY if _looks_binary(rest) else WORD2VEC
    if _looks_binary(head):
        raise EmbeddingError(
            f"{path} looks like a binary file but does not start with a word2vec header line "
            f"('count dim'); it is not a GloVe or word2vec vector file"
        )
    return GLOVE


# --------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------
def _parse_values(path: Path, lineno: int, word: str, fields: Sequence[str]) -> np.ndarray:
    try:
        values = np.array(fields, dtype=np.float32)
    except ValueError:
        for k, field in enumerate(fields, start=1):
            try:
                float(field)
            except ValueError:
                raise EmbeddingError(
                    f"{path}, line {lineno}: value {field!r} (number {k} of the vector for {word!r}) is not a number"
                ) from None
        raise  # pragma: no cover - numpy and float() disagree
    if not np.all(np.isfinite(values)):
        k = int(np.flatnonzero(~np.isfinite(values))[0])
        raise EmbeddingError(
            f"{path}, line {lineno}: value {fields[k]!r} (number {k + 1} of the vector for {word!r}) is not a finite number"
        )
    return values


def _split_row(line: str, dim: int | None) -> tuple[str, list[str]]:
    parts = [p for p in line.replace("\t", " ").split(" ") if p]
    if dim is not None and len(parts) > dim + 1:
        # A few GloVe files hold words with spaces in them (". . ."): take the
        # last ``dim`` fields as the vector when the extra leading fields are
        # not numbers. Extra *numbers* are a row of the wrong length.
        extra = parts[1 : len(parts) - dim]
        if not any(_is_number(x) for x in extra):
            return " ".join(parts[: len(parts) - dim]), parts[len(parts) - dim :]
    return parts[0], parts[1:]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_text(path: Path, header: bool, keep: set[str] | None, limit: int | None) -> tuple[list[str], np.ndarray]:
    words: list[str] = []
    rows: list[np.ndarray] = []
    seen: set[str] = set()
    dim: int | None = None
    dim_line = 0
    count: int | None = None
    n_rows = 0
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if lineno == 1 and header:
                parsed = _parse_header(raw)
                if parsed is None:  # pragma: no cover - checked by the caller
                    raise EmbeddingError(f"{path}, line 1: expected a word2vec header 'count dim'")
                count, dim = parsed
                dim_line = 1
                if dim < 1:
                    raise EmbeddingError(f"{path}, line 1: the header announces dimension {dim}")
                continue
            try:
                if b"\x00" in raw:
                    raise UnicodeDecodeError("utf-8", raw, raw.index(b"\x00"), raw.index(b"\x00") + 1, "NUL")
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                if _looks_binary(raw):
                    raise EmbeddingError(
                        f"{path}, line {lineno}: binary data in a text vector file; if this is a word2vec binary "
                        f"file, read it as binary (binary=True / --binary)"
                    ) from None
                raise EmbeddingError(
                    f"{path}, line {lineno}: not valid UTF-8 (byte {exc.start + 1} of the line: "
                    f"{raw[exc.start:exc.start + 1]!r})"
                ) from None
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            word, fields = _split_row(line, dim)
            if dim is None:
                if not fields:
                    raise EmbeddingError(f"{path}, line {lineno}: the word {word!r} has no values after it")
                dim, dim_line = len(fields), lineno
            elif len(fields) != dim:
                where = "the header" if dim_line == 1 and header else f"line {dim_line}"
                raise EmbeddingError(
                    f"{path}, line {lineno}: the vector for {word!r} has {len(fields)} values, expected {dim} "
                    f"(as on {where}); every row must have the same dimension"
                )
            n_rows += 1
            if limit is not None and n_rows > limit:
                break
            if word in seen or (keep is not None and word not in keep):
                continue  # the first vector of a repeated word wins
            seen.add(word)
            words.append(word)
            rows.append(_parse_values(path, lineno, word, fields))
    if n_rows == 0:
        what = "only a header line" if header else "no vectors"
        raise EmbeddingError(f"{path} is empty: it holds {what}")
    if count is not None and limit is None and n_rows != count:
        raise EmbeddingError(f"{path}: the header announces {count} vectors but the file holds {n_rows}")
    assert dim is not None
    vectors = np.stack(rows).astype(np.float32, copy=False) if rows else np.zeros((0, dim), np.float32)
    return words, vectors


def _read_binary(path: Path, keep: set[str] | None, limit: int | None) -> tuple[list[str], np.ndarray]:
    with open(path, "rb") as fh:
        first = fh.readline()
        parsed = _parse_header(first)
        if parsed is None:
            raise EmbeddingError(
                f"{path}, line 1: a word2vec binary file starts with a header line 'count dim', found "
                f"{first[:40]!r}"
            )
        count, dim = parsed
        if dim < 1:
            raise EmbeddingError(f"{path}, line 1: the header announces dimension {dim}")
        start = len(first)
        size = os.fstat(fh.fileno()).st_size
        if size <= start:
            raise EmbeddingError(f"{path} is empty: it holds only a header line")
        rest = fh.read(min(_SNIFF_BYTES, size - start))
        if not _looks_binary(rest):
            raise EmbeddingError(
                f"{path} is a text file, not word2vec binary; read it as text (binary=False, or let the format "
                f"be detected)"
            )
        mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    try:
        n = count if limit is None else min(count, limit)
        nbytes = 4 * dim
        words: list[str] = []
        rows: list[np.ndarray] = []
        seen: set[str] = set()
        pos = start
        for i in range(1, n + 1):
            while pos < size and mm[pos : pos + 1] in (b"\n", b"\r"):
                pos += 1
            space = mm.find(b" ", pos, min(size, pos + 10_000))
            if space < 0:
                raise EmbeddingError(
                    f"{path}: vector {i} of {count} (byte {pos}): no word followed by a space; the file is "
                    f"truncated or not word2vec binary"
                )
            word = mm[pos:space].decode("utf-8", errors="replace")
            pos = space + 1
            if pos + nbytes > size:
                raise EmbeddingError(
                    f"{path}: the file ends inside vector {i} ({word!r}); the header announces {count} vectors "
                    f"of dimension {dim}"
                )
            if word not in seen and (keep is None or word in keep):
                values = np.frombuffer(mm, dtype="<f4", count=dim, offset=pos).astype(np.float32)
                if not np.all(np.isfinite(values)):
                    raise EmbeddingError(f"{path}: vector {i} ({word!r}) holds a value that is not a finite number")
                seen.add(word)
                words.append(word)
                rows.append(values)
            pos += nbytes
        if limit is None and mm[pos:size].strip():
            raise EmbeddingError(
                f"{path}: data left after the {count} vectors the header announces (byte {pos}); "
                f"the header or the dimension is wrong"
            )
    finally:
        mm.close()
    vectors = np.stack(rows) if rows else np.zeros((0, dim), np.float32)
    return words, vectors


def read_vectors(
    path: str | os.PathLike,
    binary: bool | None = None,
    *,
    keep: Iterable[str] | None = None,
    limit: int | None = None,
) -> tuple[list[str], np.ndarray]:
    """Read a vector file -> ``(words, vectors)``, ``vectors`` float32 ``[len(words), dim]``.

    ``binary``: ``None`` detects the format, ``False`` insists on text (GloVe or
    word2vec text), ``True`` on word2vec binary. ``keep``: only these words'
    vectors are kept (every row's length is still checked; values are parsed
    for kept words only, which makes reading a large file for one vocabulary
    fast). ``limit``: read only the first ``limit`` vectors. Words keep the
    file's order (word2vec and GloVe files list the most frequent first); a
    repeated word keeps its first vector.
    """
    path = Path(path)
    fmt = detect_format(path) if binary is None else None
    keep_set = set(keep) if keep is not None else None
    if limit is not None and limit < 1:
        raise EmbeddingError(f"limit must be a positive number of vectors, got {limit!r}")
    if binary is True or fmt == WORD2VEC_BINARY:
        return _read_binary(path, keep_set, limit)
    head, rest, has_header = _sniff(path)
    if binary is False and _looks_binary(rest if has_header else head):
        raise EmbeddingError(
            f"{path} is a binary file, not a text vector file"
            + ("; it looks like word2vec binary: read it with binary=True (--binary)" if has_header else "")
        )
    return _read_text(path, has_header, keep_set, limit)


def vector_file_info(path: str | os.PathLike) -> dict[str, Any]:
    """Format, number of vectors and dimension of a vector file (reads and checks all of it)."""
    fmt = detect_format(path)
    words, vectors = read_vectors(path, binary=fmt == WORD2VEC_BINARY)
    norms = np.linalg.norm(vectors, axis=1) if len(vectors) else np.zeros(1)
    return {
        "path": str(path),
        "format": fmt,
        "vectors": len(words),
        "dim": int(vectors.shape[1]),
        "mean_norm": float(norms.mean()),
        "first_words": words[:10],
    }


def file_dim(path: str | os.PathLike, binary: bool | None = None) -> tuple[str, int]:
    """``(format, dimension)`` of a vector file, from its header and first vector (reads little).

    ``binary`` as for :func:`read_vectors`: a file that is not what it asks for is refused.
    """
    fmt = detect_format(path)
    if binary is True and fmt != WORD2VEC_BINARY:
        raise EmbeddingError(f"{path} is a text file, not word2vec binary; read it as text (binary=False, or let "
                             f"the format be detected)")
    if binary is False and fmt == WORD2VEC_BINARY:
        raise EmbeddingError(f"{path} is a binary file, not a text vector file; it looks like word2vec binary: "
                             f"read it with binary=True (--binary)")
    _words, vectors = read_vectors(path, binary=fmt == WORD2VEC_BINARY, keep=(), limit=1)
    return fmt, int(vectors.shape[1])


# --------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------
def _atomic_write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temp_file(path)  # .<name>.toolkit-tmp-<pid>-<host>-XXXX: swept by the next write and toolkit clean
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_vectors(path: str | os.PathLike, words: Sequence[str], vectors: np.ndarray, binary: bool = False) -> None:
    """Write vectors in word2vec format (header ``count dim``), text or binary.

    Text values are written with 9 significant digits, enough for float32 to
    read back bit for bit. The file is written to a temporary file next to
    ``path`` and renamed into place, so a failure leaves no half-written file.
    """
    path = Path(path)
    vectors = np.asarray(vectors, dtype=np.float32)
    words = list(words)
    if vectors.ndim != 2 or vectors.shape[0] != len(words):
        raise EmbeddingError(
            f"cannot write {path}: {len(words)} words but vectors of shape {tuple(vectors.shape)}"
        )
    if not words:
        raise EmbeddingError(f"cannot write {path}: no vectors")
    seen: set[str] = set()
    for word in words:
        if not word or any(ch.isspace() for ch in word):
            raise EmbeddingError(f"cannot write {path}: the word {word!r} is empty or contains white space")
        if word in seen:
            raise EmbeddingError(f"cannot write {path}: the word {word!r} appears twice")
        seen.add(word)
    n, dim = vectors.shape

    def write(fh) -> None:
        fh.write(f"{n} {dim}\n".encode("ascii"))
        if binary:
            data = vectors.astype("<f4")
            for word, row in zip(words, data):
                fh.write(word.encode("utf-8") + b" " + row.tobytes() + b"\n")
        else:
            fmt = " ".join(["%.9g"] * dim)
            for word, row in zip(words, vectors.tolist()):
                fh.write((word + " " + fmt % tuple(row) + "\n").encode("utf-8"))

    _atomic_write(path, write)
