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
from spacy_helpers import run_python


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
    return {
        # full size: 2 x 1,000 reviews
        "/review_polarity.tar.gz": good,
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
    """Make fetch/verify expect SMALL reviews per label."""
    monkeypatch.setattr(fetch_mod, "EXPECTED_PER_LABEL", SMALL)
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
