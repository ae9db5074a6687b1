"""toolkit.training.fetch against a local HTTP server on 127.0.0.1 (no other network)."""

from __future__ import annotations

import io
import os
import socket
import tarfile
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from toolkit.training import fetch as fetch_mod
from toolkit.core.errors import FetchError
from toolkit.training.fetch import POLARITY_URL, fetch_polarity, verify_polarity
from boundary import assert_not_loaded, report_code
from published import mr_cp1252, multi_domain_original, tar_gz
from spacy_helpers import run_python
from toolkit.training.datasets.multi_domain import read_multi_domain


def _shared_sentoken() -> Path:
    """TOOLKIT_POLARITY_DIR (the txt_sentoken folder, or the folder holding it), else ../shared."""
    env = os.environ.get("TOOLKIT_POLARITY_DIR")
    if env:
        base = Path(env)
        return base / "txt_sentoken" if (base / "txt_sentoken").is_dir() else base
    return Path(__file__).resolve().parents[2].parent / "shared/data/review_polarity/txt_sentoken"


SENTOKEN = _shared_sentoken()


def _require_corpus() -> Path:
    if not (SENTOKEN / "pos").is_dir() or not (SENTOKEN / "neg").is_dir():
        message = f"shared polarity corpus not found at {SENTOKEN} (set TOOLKIT_POLARITY_DIR)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return SENTOKEN


SMALL = 5  # reviews per label in the small archives (tests patch EXPECTED_PER_LABEL to match)


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    info.mtime = 1_100_000_000
    tar.addfile(info, io.BytesIO(data))


def _load_corpus(sentoken: Path) -> list[tuple[str, bytes]]:
    """(archive name, bytes) for the README and every review, as in the real archive."""
    readme = sentoken.parent / "poldata.README.2.0"
    entries = [("poldata.README.2.0", readme.read_bytes() if readme.is_file() else b"polarity v2.0\n")]
    for label in ("pos", "neg"):
        for file in sorted((sentoken / label).glob("cv*.txt")):
            entries.append((f"txt_sentoken/{label}/{file.name}", file.read_bytes()))
    return entries


def _archive(entries: list[tuple[str, bytes]], *, prefix: str = "", per_label: int | None = None,
             drop: int = 0) -> bytes:
    """A .tar.gz of ``entries``; ``per_label`` keeps the first N reviews of each label,
    ``drop`` then leaves out that many pos reviews."""
    kept: dict[str, int] = Counter()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=1) as tar:
        for name, data in entries:
            if name.startswith("txt_sentoken/"):
                label = name.split("/")[1]
                kept[label] += 1
                if per_label is not None and kept[label] > per_label:
                    continue
                if label == "pos" and kept[label] <= drop:
                    continue
            _add_bytes(tar, prefix + name, data)
    return buf.getvalue()


@pytest.fixture(scope="session")
def archives() -> dict[str, bytes]:
    """Archive bytes by URL path, built once per session (in memory)."""
    entries = _load_corpus(_require_corpus())
    good = _archive(entries)

    unsafe = io.BytesIO()
    with tarfile.open(fileobj=unsafe, mode="w:gz") as tar:
        _add_bytes(tar, "txt_sentoken/pos/cv000_1.txt", b"fine\n")
        _add_bytes(tar, "../escaped.txt", b"evil\n")
    absolute = io.BytesIO()
    with tarfile.open(fileobj=absolute, mode="w:gz") as tar:
        _add_bytes(tar, "/tmp/toolkit-absolute-member.txt", b"evil\n")
    name, data = next(e for e in entries if e[0].startswith("txt_sentoken/pos/"))
    tampered = [(n, d.replace(b" the ", b" a ", 1) if n == name else d) for n, d in entries]
    assert tampered != entries
    return {
        # full size: 2 x 1,000 reviews
        "/review_polarity.tar.gz": good,
        "/tampered.tar.gz": _archive(tampered),  # the right names, one review's words changed (issue 28)
        "/missing.tar.gz": _archive(entries, drop=10),
        "/truncated.gz": good[: len(good) // 2],
        # small: 2 x SMALL reviews, for behaviour that does not depend on size
        "/small.tar.gz": _archive(entries, per_label=SMALL),
        "/small-nested.tar.gz": _archive(entries, per_label=SMALL, prefix="review_polarity/"),
        "/small-missing.tar.gz": _archive(entries, per_label=SMALL, drop=1),
        "/unsafe.tar.gz": unsafe.getvalue(),
        "/absolute.tar.gz": absolute.getvalue(),
        "/page.html": b"<html><body>Not here any more</body></html>\n",
    }


@pytest.fixture
def small(monkeypatch) -> int:
    """Make fetch/verify expect SMALL reviews per label (and not the full corpus's content digest)."""
    monkeypatch.setattr(fetch_mod, "EXPECTED_PER_LABEL", SMALL)
    monkeypatch.setitem(fetch_mod.DIGESTS, "polarity", None)
    return SMALL


class _Server:
    def __init__(self, archives: dict[str, bytes]):
        self.archives = archives
        self.requests: Counter[str] = Counter()
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                with owner._lock:
                    owner.requests[self.path] = owner.requests[self.path] + 1
                body = owner.archives.get(self.path.split("?")[0])
                if body is None:
                    self.send_error(404, "Not Found")
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/gzip")
                if self.path == "/short-body.tar.gz":  # promises more than it sends
                    self.send_header("Content-Length", str(len(body) + 1000))
                elif self.path != "/no-length.tar.gz":
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):  # keep pytest output quiet
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return self.base + path

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture(scope="session")
def server(archives, request) -> _Server:
    archives = dict(archives)
    archives["/no-length.tar.gz"] = archives["/small.tar.gz"]
    archives["/short-body.tar.gz"] = archives["/small.tar.gz"]
    srv = _Server(archives)
    request.addfinalizer(srv.close)
    return srv


FULL_URL_PATH = "/review_polarity.tar.gz?session"


@pytest.fixture(scope="session")
def fetched(server, tmp_path_factory) -> Path:
    """The one full-size successful fetch, shared by the checks that only read it."""
    dest = tmp_path_factory.mktemp("fetched") / "polarity"
    return fetch_polarity(dest, server.url(FULL_URL_PATH), progress=False)


def _leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir())


# ------------------------------------------------------------------ success


def test_fetch_unpacks_and_verifies(fetched):
    assert fetched.name == "txt_sentoken"
    dest = fetched.parent
    assert (dest / "poldata.README.2.0").is_file()
    assert verify_polarity(dest) == {"pos": 1000, "neg": 1000, "files": 2000}
    assert verify_polarity(fetched) == {"pos": 1000, "neg": 1000, "files": 2000}
    # nothing but the corpus in the parent folder: temporary files are gone
    assert _leftovers(dest.parent) == ["polarity"]


def test_fetched_files_are_byte_identical(fetched):
    for label in ("pos", "neg"):
        names = sorted(p.name for p in (SENTOKEN / label).glob("cv*.txt"))
        assert sorted(p.name for p in (fetched / label).iterdir()) == names
        for name in names[::97] + names[-1:]:
            assert (fetched / label / name).read_bytes() == (SENTOKEN / label / name).read_bytes()
    readme = SENTOKEN.parent / "poldata.README.2.0"
    if readme.is_file():
        assert (fetched.parent / "poldata.README.2.0").read_bytes() == readme.read_bytes()


def test_fetched_corpus_is_writable(fetched):
    # the shared copy is read-only; the fetched one must not inherit odd modes,
    # nor the 0700 of the temporary folder it was unpacked in
    assert fetched.parent.stat().st_mode & 0o755 == 0o755
    assert os.access(fetched / "pos", os.W_OK)
    assert os.access(next((fetched / "pos").iterdir()), os.W_OK)


def test_second_fetch_does_not_download(server, fetched, capsys):
    assert server.requests[FULL_URL_PATH] == 1
    again = fetch_polarity(fetched.parent, server.url(FULL_URL_PATH), progress=True)
    assert again == fetched
    assert "already present" in capsys.readouterr().err
    # passing txt_sentoken itself also counts as present
    assert fetch_polarity(fetched, server.url(FULL_URL_PATH), progress=False) == fetched
    assert server.requests[FULL_URL_PATH] == 1


def test_overwrite_downloads_again_and_replaces(server, small, tmp_path):
    url = server.url("/small.tar.gz?overwrite")
    dest = tmp_path / "polarity"
    fetch_polarity(dest, url, progress=False)
    (dest / "stale.txt").write_text("old")
    fetch_polarity(dest, url, overwrite=True, progress=False)
    assert server.requests["/small.tar.gz?overwrite"] == 2
    assert not (dest / "stale.txt").exists()
    assert verify_polarity(dest)["files"] == 2 * small
    assert _leftovers(tmp_path) == ["polarity"]


def test_nested_top_folder_and_progress_bar(server, small, tmp_path, capsys):
    dest = tmp_path / "corpus"
    out = fetch_polarity(dest, server.url("/small-nested.tar.gz"), progress=True)
    assert out == dest / "txt_sentoken"
    assert (dest / "poldata.README.2.0").is_file()
    assert verify_polarity(dest) == {"pos": small, "neg": small, "files": 2 * small}
    assert _leftovers(tmp_path) == ["corpus"]
    assert "ready" in capsys.readouterr().err


def test_no_content_length(server, small, tmp_path):
    out = fetch_polarity(tmp_path / "p", server.url("/no-length.tar.gz"), progress=True)
    assert verify_polarity(out)["files"] == 2 * small


def test_empty_existing_folder_is_filled(server, small, tmp_path):
    dest = tmp_path / "p"
    dest.mkdir()
    fetch_polarity(dest, server.url("/small.tar.gz"), progress=False)
    assert verify_polarity(dest)["files"] == 2 * small


def test_file_url(archives, small, tmp_path):
    archive = tmp_path / "review_polarity.tar.gz"
    archive.write_bytes(archives["/small.tar.gz"])
    out = fetch_polarity(tmp_path / "p", archive.as_uri(), progress=False)
    assert out == tmp_path / "p" / "txt_sentoken"
    assert _leftovers(tmp_path) == ["p", "review_polarity.tar.gz"]


# ------------------------------------------------------------------ failures


def test_http_404(server, tmp_path):
    url = server.url("/gone.tar.gz")
    with pytest.raises(FetchError, match="HTTP 404") as info:
        fetch_polarity(tmp_path / "p", url, progress=False)
    assert url in str(info.value)
    assert _leftovers(tmp_path) == []


def test_not_an_archive(server, tmp_path):
    with pytest.raises(FetchError, match="not a gzip tar archive"):
        fetch_polarity(tmp_path / "p", server.url("/page.html"), progress=False)
    assert not (tmp_path / "p").exists()
    assert _leftovers(tmp_path) == []


def test_incomplete_download(server, small, tmp_path):
    with pytest.raises(FetchError, match="incomplete"):
        fetch_polarity(tmp_path / "p", server.url("/short-body.tar.gz"), progress=False)
    assert _leftovers(tmp_path) == []


def test_truncated_archive(server, tmp_path):
    with pytest.raises(FetchError, match="not a valid gzip tar archive"):
        fetch_polarity(tmp_path / "p", server.url("/truncated.gz"), progress=False)
    assert _leftovers(tmp_path) == []


def test_missing_files(server, tmp_path):
    with pytest.raises(FetchError, match=r"990 review files, expected 1000 \(10 missing\)") as info:
        fetch_polarity(tmp_path / "p", server.url("/missing.tar.gz"), progress=False)
    assert "txt_sentoken/pos" in str(info.value)
    assert not (tmp_path / "p").exists()
    assert _leftovers(tmp_path) == []


def test_changed_review_refused_by_the_content_digest(server, tmp_path):
    with pytest.raises(FetchError, match=r"not the published polarity corpus's \(content sha256 .*changed, "
                                         r"dropped or added\)") as info:
        fetch_polarity(tmp_path / "p", server.url("/tampered.tar.gz"), progress=False)
    assert "/tampered.tar.gz" in str(info.value) and "\n" not in str(info.value)
    assert _leftovers(tmp_path) == []


def test_unsafe_member_refused(server, tmp_path):
    with pytest.raises(FetchError, match=r"unsafe.*\.\."):
        fetch_polarity(tmp_path / "sub" / "p", server.url("/unsafe.tar.gz"), progress=False)
    assert not (tmp_path / "escaped.txt").exists()
    assert not (tmp_path / "sub" / "escaped.txt").exists()
    assert _leftovers(tmp_path / "sub") == []


def test_absolute_member_refused(server, tmp_path):
    with pytest.raises(FetchError, match="absolute path"):
        fetch_polarity(tmp_path / "p", server.url("/absolute.tar.gz"), progress=False)
    assert _leftovers(tmp_path) == []


def test_connection_refused(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/review_polarity.tar.gz"
    with pytest.raises(FetchError, match="--data") as info:
        fetch_polarity(tmp_path / "p", url, progress=False, timeout=5)
    assert url in str(info.value)
    assert "refused" in str(info.value)
    assert _leftovers(tmp_path) == []


def test_bad_url(tmp_path):
    with pytest.raises(FetchError, match="unknown url type"):
        fetch_polarity(tmp_path / "p", "htp//nowhere", progress=False)
    assert _leftovers(tmp_path) == []


def test_timeout(tmp_path):
    # a socket that accepts connections (backlog) but never answers
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/review_polarity.tar.gz"
        with pytest.raises(FetchError, match="timed out") as info:
            fetch_polarity(tmp_path / "p", url, progress=False, timeout=0.3)
    assert "--data" in str(info.value)
    assert _leftovers(tmp_path) == []


def test_existing_invalid_dest_is_refused(server, tmp_path):
    dest = tmp_path / "p"
    dest.mkdir()
    (dest / "notes.txt").write_text("mine")
    url = server.url("/small.tar.gz?invalid-dest")
    with pytest.raises(FetchError, match="--overwrite"):
        fetch_polarity(dest, url, progress=False)
    assert server.requests["/small.tar.gz?invalid-dest"] == 0
    assert (dest / "notes.txt").read_text() == "mine"
    (tmp_path / "file").write_text("x")
    with pytest.raises(FetchError, match="not a folder"):
        fetch_polarity(tmp_path / "file", url, progress=False)


def test_failed_overwrite_keeps_old_corpus(server, small, tmp_path):
    dest = tmp_path / "p"
    fetch_polarity(dest, server.url("/small.tar.gz"), progress=False)
    with pytest.raises(FetchError, match=r"4 review files, expected 5 \(1 missing\)"):
        fetch_polarity(dest, server.url("/small-missing.tar.gz"), overwrite=True, progress=False)
    assert verify_polarity(dest)["files"] == 2 * small
    assert _leftovers(tmp_path) == ["p"]


def test_interrupt_cleans_up(server, small, tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(fetch_mod, "_verify_sentoken", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fetch_polarity(tmp_path / "p", server.url("/small.tar.gz"), progress=False)
    assert _leftovers(tmp_path) == []


# ------------------------------------------------------------------ verify_polarity


def _fake_corpus(root: Path, per_label: int) -> Path:
    for label in ("pos", "neg"):
        folder = root / "txt_sentoken" / label
        folder.mkdir(parents=True)
        for i in range(per_label):
            (folder / f"cv{i:03d}_{i}.txt").write_text("a review .\n")
    return root / "txt_sentoken"


def test_verify_messages(tmp_path, small):
    with pytest.raises(FetchError, match="does not exist"):
        verify_polarity(tmp_path / "nowhere")
    with pytest.raises(FetchError, match="holds no txt_sentoken"):
        verify_polarity(tmp_path)

    sentoken = _fake_corpus(tmp_path, small)
    assert verify_polarity(tmp_path) == {"pos": small, "neg": small, "files": 2 * small}

    (sentoken / "neg" / "cv004_4.txt").unlink()
    with pytest.raises(FetchError, match=r"neg holds 4 review files, expected 5 \(1 missing\)"):
        verify_polarity(tmp_path)
    (sentoken / "neg" / "cv003_99.txt").write_text("same fold tag .\n")
    with pytest.raises(FetchError, match="two files for fold tag cv003"):
        verify_polarity(tmp_path)
    (sentoken / "neg" / "cv003_99.txt").unlink()
    (sentoken / "neg" / "cv004_4.txt").write_text("back .\n")

    (sentoken / "pos" / "notes.md").write_text("x")
    with pytest.raises(FetchError, match="notes.md"):
        verify_polarity(sentoken)
    (sentoken / "pos" / "notes.md").unlink()
    (sentoken / "pos" / ".DS_Store").write_text("x")  # hidden files are ignored
    assert verify_polarity(sentoken)["files"] == 2 * small

    (sentoken / "pos" / "cv002_2.txt").write_bytes(b"")
    with pytest.raises(FetchError, match=r"pos/cv002_2.txt is empty"):
        verify_polarity(tmp_path)
    (sentoken / "pos" / "cv002_2.txt").write_bytes(b"caf\xe9 .\n")
    with pytest.raises(FetchError, match=r"pos/cv002_2.txt is not UTF-8"):
        verify_polarity(tmp_path)
    (sentoken / "pos" / "cv002_2.txt").write_text("fine .\n")

    (sentoken / "neg" / "cv000_0.txt").unlink()
    (sentoken / "neg").rename(tmp_path / "elsewhere")
    with pytest.raises(FetchError, match=r"txt_sentoken/neg is missing"):
        verify_polarity(tmp_path)


def test_verify_shared_copy():
    sentoken = _require_corpus()
    assert verify_polarity(sentoken) == {"pos": 1000, "neg": 1000, "files": 2000}
    assert verify_polarity(sentoken.parent)["files"] == 2000


def test_no_heavy_imports():
    code = report_code() + "import json, toolkit.training.fetch; print(json.dumps(_boundary_report()))"
    assert_not_loaded(run_python(code), ("tensorflow", "keras", "tf2onnx", "gensim"))


def test_default_url():
    assert POLARITY_URL == "https://www.cs.cornell.edu/people/pabo/movie-review-data/review_polarity.tar.gz"


def test_cli_fetch_and_error(server, small, tmp_path):
    from typer.testing import CliRunner

    from toolkit.cli import app

    dest = tmp_path / "polarity"
    result = CliRunner().invoke(app, ["data", "fetch", "polarity", "--dest", str(dest),
                                      "--url", server.url("/small.tar.gz?cli")])
    assert result.exit_code == 0, result.output
    assert f"{2 * small} files" in result.output
    failed = CliRunner().invoke(app, ["data", "fetch", "polarity", "--dest", str(tmp_path / "x"),
                                      "--url", server.url("/gone.tar.gz")])
    assert failed.exit_code == 1
    assert "HTTP 404" in failed.output and "Traceback" not in failed.output


# ------------------------------------------------------------------ MR and multi-domain


@pytest.fixture(scope="session")
def published(mr_path, multi_domain_path, tmp_path_factory, request) -> _Server:
    """The MR and multi-domain archives in their published layouts and encodings (MR in Windows-1252; the
    reviews as pseudo-XML under sorted_data_acl/, with unlabeled.review files), built in a temporary folder
    from the shared copies, and variants: a changed review, a wrong layout, a missing snippet."""
    build = tmp_path_factory.mktemp("published")
    served: dict[str, bytes] = {}

    def archive(name: str, folder: Path, **extra) -> None:
        served["/" + name] = tar_gz(folder, build / name, **extra).read_bytes()

    mr_top = build / "mr"
    mr_dir = mr_cp1252(mr_path, mr_top / "rt-polaritydata")
    readme = {fetch_mod.MR_README: b"sentence polarity dataset v1.0\n"}
    archive("rt-polaritydata.tar.gz", mr_top, extra=readme)
    pos = (mr_dir / "rt-polarity.pos").read_bytes()
    neg = (mr_dir / "rt-polarity.neg").read_bytes()
    (mr_dir / "rt-polarity.pos").write_bytes(pos.replace(b" the ", b" a ", 1))
    archive("mr-tampered.tar.gz", mr_top)
    (mr_dir / "rt-polarity.pos").write_bytes(pos)
    (mr_dir / "rt-polarity.neg").write_bytes(neg[:neg.rindex(b"\n", 0, len(neg) - 1) + 1])
    archive("mr-short.tar.gz", mr_top)
    (mr_dir / "rt-polarity.neg").write_bytes(neg)
    (mr_dir / "rt-polarity.pos").rename(mr_dir / "positive.txt")
    (mr_dir / "rt-polarity.neg").rename(mr_dir / "negative.txt")
    archive("mr-layout.tar.gz", mr_top)

    md_top = build / "md"
    root = multi_domain_original(multi_domain_path, md_top)
    archive("domain_sentiment_data.tar.gz", md_top)
    target = root / "dvd" / "positive.review"
    original = target.read_bytes()
    target.write_bytes(original.replace(b" great ", b" grate ", 1))
    archive("md-tampered.tar.gz", md_top)
    target.write_bytes(original)
    (root / "kitchen_&_housewares").rename(build / "kitchen-aside")
    archive("md-layout.tar.gz", md_top)

    srv = _Server(served)
    request.addfinalizer(srv.close)
    return srv


def test_fetch_mr_ready(published, mr_path, tmp_path, capsys):
    dest = tmp_path / "mr"
    url = published.url("/rt-polaritydata.tar.gz?ready")
    assert fetch_mod.fetch_mr(dest, url, progress=True) == dest
    assert "MR corpus ready" in capsys.readouterr().err
    assert sorted(p.name for p in dest.iterdir()) == ["rt-polarity.neg", "rt-polarity.pos", fetch_mod.MR_README]
    # as published: Windows-1252 bytes, read back to the shared copy's documents
    shared = (mr_path / "rt-polarity.pos").read_text(encoding="utf-8")
    assert (dest / "rt-polarity.pos").read_bytes() == shared.encode("cp1252")
    counts = fetch_mod.verify_mr(dest)
    assert counts == {"NEGATIVE": 5331, "POSITIVE": 5331, "snippets": 10662, "encoding": "cp1252"}
    assert _leftovers(tmp_path) == ["mr"]
    # a second fetch finds it and downloads nothing
    assert fetch_mod.fetch_mr(dest, url, progress=True) == dest
    assert "already present" in capsys.readouterr().err
    assert published.requests["/rt-polaritydata.tar.gz?ready"] == 1


@pytest.mark.parametrize("path, expected", [
    ("/mr-tampered.tar.gz", r"archive folder rt-polaritydata \(from http://127\.0\.0\.1:\d+/mr-tampered\.tar\.gz\): "
                            r"its reviews are not the published mr corpus's"),
    ("/mr-short.tar.gz", r"archive folder rt-polaritydata/rt-polarity\.neg holds 5,330 snippets, expected 5,331"),
    ("/mr-layout.tar.gz", r"holds no rt-polarity\.pos / rt-polarity\.neg .*is it rt-polaritydata\.tar\.gz\?"),
])
def test_fetch_mr_refuses_a_wrong_archive_and_leaves_nothing(published, tmp_path, path, expected):
    with pytest.raises(FetchError, match=expected) as info:
        fetch_mod.fetch_mr(tmp_path / "mr", published.url(path), progress=False)
    assert "\n" not in str(info.value)
    assert _leftovers(tmp_path) == []


@pytest.fixture(scope="module")
def reviews_shared(multi_domain_path):
    return read_multi_domain(multi_domain_path)


def test_fetch_multi_domain_ready(published, reviews_shared, tmp_path):
    dest = tmp_path / "md"
    assert fetch_mod.fetch_multi_domain(dest, published.url("/domain_sentiment_data.tar.gz"), progress=False) == dest
    assert sorted(p.name for p in dest.iterdir()) == ["books", "dvd", "electronics", "kitchen"]
    for domain in dest.iterdir():  # the archive's unlabeled.review files are not unpacked
        assert sorted(p.name for p in domain.iterdir()) == ["negative.review", "positive.review"]
    assert b"Kitchen & Housewares" in (dest / "kitchen" / "positive.review").read_bytes()  # as published
    assert fetch_mod.verify_multi_domain(dest) == {"reviews": 8000, "books": 2000, "dvd": 2000, "electronics": 2000,
                                                   "kitchen": 2000}
    fetched = read_multi_domain(dest)
    assert [(d.text, d.label, d.fields) for d in fetched] == [(d.text, d.label, d.fields) for d in reviews_shared]
    assert _leftovers(tmp_path) == ["md"]


@pytest.mark.parametrize("path, expected", [
    ("/md-tampered.tar.gz", r"archive folder sorted_data_acl \(from .*md-tampered\.tar\.gz\): its reviews are not "
                            r"the published multi-domain corpus's"),
    ("/md-layout.tar.gz", r"the archive's sorted_data_acl/kitchen does not exist; the multi-domain corpus has one "
                          r"folder per domain"),
])
def test_fetch_multi_domain_refuses_a_wrong_archive_and_leaves_nothing(published, tmp_path, path, expected):
    with pytest.raises(FetchError, match=expected) as info:
        fetch_mod.fetch_multi_domain(tmp_path / "md", published.url(path), progress=False)
    assert "\n" not in str(info.value)
    assert _leftovers(tmp_path) == []


def test_existing_copy_that_fails_the_check_is_refused(published, tmp_path):
    dest = tmp_path / "mr"
    fetch_mod.fetch_mr(dest, published.url("/rt-polaritydata.tar.gz"), progress=False)
    with open(dest / "rt-polarity.neg", "ab") as fh:
        fh.write(b"one snippet too many .\n")
    with pytest.raises(FetchError, match=r"exists but is not a valid MR corpus .*5,332 snippets.*--overwrite"):
        fetch_mod.fetch_mr(dest, published.url("/rt-polaritydata.tar.gz"), progress=False)
    fetch_mod.fetch_mr(dest, published.url("/rt-polaritydata.tar.gz"), overwrite=True, progress=False)
    assert fetch_mod.verify_mr(dest)["snippets"] == 10662


def test_verify_shared_copies(mr_path, multi_domain_path):
    assert fetch_mod.verify_mr(mr_path)["encoding"] == "utf-8"
    assert fetch_mod.verify_multi_domain(multi_domain_path)["reviews"] == 8000


def test_default_urls_and_destinations():
    assert fetch_mod.MR_URL == "https://www.cs.cornell.edu/people/pabo/movie-review-data/rt-polaritydata.tar.gz"
    assert fetch_mod.MULTI_DOMAIN_URL == ("https://www.cs.jhu.edu/~mdredze/datasets/sentiment/"
                                          "domain_sentiment_data.tar.gz")
    assert fetch_mod.FETCHABLE == ("polarity", "mr", "multi-domain")
    assert fetch_mod.default_dest("multi-domain") == Path("data/multi_domain")


def test_cli_fetch_mr_then_use_it_by_name(published, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from toolkit.cli import app

    dest = tmp_path / "mr"
    result = CliRunner().invoke(app, ["data", "fetch", "mr", "--dest", str(dest),
                                      "--url", published.url("/rt-polaritydata.tar.gz?cli")])
    assert result.exit_code == 0, result.output
    assert "10662 snippets (cp1252)" in result.output and f"TOOLKIT_MR_DIR={dest}" in result.output
    monkeypatch.setenv("TOOLKIT_MR_DIR", str(dest))
    info = CliRunner().invoke(app, ["data", "info", "--data", "mr"])
    assert info.exit_code == 0, info.output
    assert "encoding: cp1252" in info.output and f"folder: {dest}" in info.output
    failed = CliRunner().invoke(app, ["data", "fetch", "multi-domain", "--dest", str(tmp_path / "md"),
                                      "--url", published.url("/md-tampered.tar.gz")])
    assert failed.exit_code == 1 and "not the published multi-domain corpus" in failed.output
    assert len([ln for ln in failed.output.splitlines() if ln.startswith("Error")]) == 1  # and a progress bar
    assert not (tmp_path / "md").exists()
