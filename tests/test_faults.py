"""Fault injection (issue 19): every hostile case of the issue, and more, through the command line.

Each case ends in a one-line error naming the culprit (non-zero exit, no traceback) or in correct
output; none exits 0 with a useless result, and none leaves temporary files behind. Cases that
need a signal run ``toolkit`` in a subprocess and kill it while it writes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import spacy
from typer.testing import CliRunner

import model_factory as mf
from corpora import learnable_corpus
from toolkit.core import registry
from toolkit.cli import app
from toolkit.core.errors import BundleError
from toolkit.core.atomic import TEMP_MARK, temp_prefix
from toolkit.core.bundle import finalize_bundle, read_bundle

runner = CliRunner()


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------
def run(*args: str, env: dict | None = None):
    return runner.invoke(app, [str(a) for a in args], env=env)


def assert_one_line_error(result, *fragments: str, code: int | None = None) -> str:
    """A failed command: non-zero exit, exactly one line on stderr starting ``Error:``, no traceback,
    the ``fragments`` (the culprit) in it."""
    assert result.exit_code != 0, f"exit 0 with output: {result.output}"
    if code is not None:
        assert result.exit_code == code, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), result.exception
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if TEMP_MARK in p.name or ".tmp" in p.name or ".old-" in p.name)


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def fake_leftover(target: Path, pid: int, is_dir: bool = True) -> Path:
    """What a process killed by SIGKILL leaves next to ``target``."""
    name = temp_prefix(target).replace(f"-{os.getpid()}-", f"-{pid}-") + "abcd1234"
    path = target.parent / name
    if is_dir:
        (path / ".work").mkdir(parents=True)
        (path / ".work" / "model.fp32.onnx").write_bytes(b"half")
    else:
        path.write_text("half")
    return path


def toolkit_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "toolkit.cli", *map(str, args)]


def subprocess_env(tmpdir: Path) -> dict:
    env = dict(os.environ, TMPDIR=str(tmpdir), TOOLKIT_LOAD_PLUGINS="", PYTHONHASHSEED="0")
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[1]), env.get("PYTHONPATH", "")])
    return env


def wait_for(predicate, proc: subprocess.Popen, timeout: float = 120.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.02)
    return False


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return learnable_corpus(tmp_path_factory.mktemp("corpus") / "reviews.jsonl")


@pytest.fixture
def bundle(tmp_path) -> Path:
    return mf.make_onnx_bundle(tmp_path / "bundle")


# ---------------------------------------------------------------------------
# 1. a run that trains nothing is an error, not a model
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("args, fragments", [
    (["--epochs", "0"], ["--epochs (training.epochs)", ">= 1", "got 0"]),
    (["--lr", "-1"], ["--learning-rate (training.learning_rate)", "> 0", "-1.0"]),
    (["--lr", "nan"], ["training.learning_rate", "finite"]),
    (["--set", "training.validation_share=1.5"], ["training.validation_share", "< 1", "1.5"]),
    (["--set", "training.validation_share=1.0"], ["training.validation_share", "< 1"]),
    (["--set", "training.max_len=0"], ["training.max_len", ">= 1"]),
    (["--set", "vocab.ngrams=0"], ["vocab.ngrams", "from 1 to 10"]),
    (["--set", "vocab.min_count=0"], ["vocab.min_count", ">= 1"]),
    (["--set", "training.early_stopping=-1"], ["training.early_stopping", ">= 0"]),
    (["--set", "training.optimizer=adamm"], ["training.optimizer", "adam"]),
    (["--set", "training.seed=-3"], ["training.seed"]),
    (["--test-share", "0"], ["--test-share (data.test_share)", "> 0 and < 1"]),
    (["--test-share", "1"], ["--test-share (data.test_share)"]),
    (["--cv", "1"], ["--cv", ">= 2"]),
    (["--set", "training.epochs"], ["must look like section.field=value"]),
    (["--set", ".epochs=3"], ["must look like section.field=value"]),
])
def test_train_refuses_settings_that_train_nothing(corpus, tmp_path, args, fragments):
    out = tmp_path / "model"
    result = run("train", "--data", corpus, "--out", out, "-q", *args)
    assert_one_line_error(result, *fragments)
    assert not out.exists() and leftovers(tmp_path) == []


def test_config_file_ranges_are_checked_with_the_file_named(corpus, tmp_path):
    config = tmp_path / "c.toml"
    config.write_text("[training]\nlearning_rate = nan\n")
    assert_one_line_error(run("train", "--config", config, "--out", tmp_path / "m"), "c.toml", "learning_rate")
    config.write_text("[training]\nepochs = 0\n")
    assert_one_line_error(run("train", "--config", config, "--out", tmp_path / "m"), "c.toml", "training.epochs")
    config.write_bytes(b"[training]\nepochs = 3 # \xff\n")
    assert_one_line_error(run("train", "--config", config, "--out", tmp_path / "m"), "c.toml", "UTF-8")
    config.write_text("[training\nepochs = 3\n")
    assert_one_line_error(run("train", "--config", config, "--out", tmp_path / "m"), "c.toml", "not valid TOML")


def test_too_large_test_share_says_no_training_documents(corpus, tmp_path):
    tiny = tmp_path / "tiny.jsonl"
    tiny.write_text("".join(json.dumps({"text": f"a fine film {i}", "label": lab}) + "\n"
                            for i, lab in enumerate(["pos", "pos", "neg", "neg"])))
    line = assert_one_line_error(run("train", "--data", tiny, "--out", tmp_path / "m", "--test-share", "0.9",
                                     "-q", "--epochs", "1"), "no training documents", "--test-share")
    assert "vocabulary" not in line
    # the case: a larger corpus leaves one training document per label
    line = assert_one_line_error(run("train", "--data", corpus, "--out", tmp_path / "m", "--test-share", "0.99",
                                     "-q", "--epochs", "1"), "training documents", "--test-share")
    assert not (tmp_path / "m").exists()


# ---------------------------------------------------------------------------
# 2. one-line errors instead of tracebacks
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["0", "-5"])
def test_bad_batch_size_is_one_line(corpus, tmp_path, value):
    assert_one_line_error(run("train", "--data", corpus, "--out", tmp_path / "m", "--batch-size", value),
                          "--batch-size (training.batch_size)", ">= 1")
    bundle = mf.make_onnx_bundle(tmp_path / "b")
    assert_one_line_error(run("predict", bundle, "good", "--batch-size", value), "--batch-size", ">= 1")


@pytest.mark.parametrize("command", [
    ["train", "--out", "{tmp}/m"],
    ["vocab", "build", "--out", "{tmp}/vocab.txt"],
    ["data", "info"],
])
@pytest.mark.parametrize("encoding", ["nosuch", "hex", ""])
def test_unknown_encoding_is_one_line(corpus, tmp_path, command, encoding):
    args = [a.replace("{tmp}", str(tmp_path)) for a in command]
    result = run(*args, "--data", corpus, "--encoding", encoding)
    assert_one_line_error(result, "--encoding", repr(encoding))
    # a folder corpus (read file by file) gets the same message
    result = run(*args, "--data", Path(corpus).parent, "--encoding", encoding)
    assert_one_line_error(result, "--encoding")


def test_vocab_build_checks_its_options(corpus, tmp_path):
    for args, fragment in ((["--min-count", "0"], "--min-count"), (["--ngrams", "0"], "--ngrams"),
                           (["--max-size", "1"], "--max-size"), (["--split", "nope"], "--split")):
        assert_one_line_error(run("vocab", "build", "--data", corpus, "--out", tmp_path / "v.txt", *args), fragment)
    assert not (tmp_path / "v.txt").exists()


def test_unexpected_error_is_one_line_with_a_debug_hint(bundle, monkeypatch):
    from toolkit.serving import predict_io

    def broken(*args, **kwargs):
        raise ValueError("something\nunforeseen")

    monkeypatch.setattr(predict_io, "bundle_report", broken)
    line = assert_one_line_error(run("predict", bundle, "--info"), "ValueError", "something unforeseen", "--debug",
                                 code=2)
    assert "TOOLKIT_DEBUG=1" in line
    debug = run("--debug", "predict", bundle, "--info")
    assert isinstance(debug.exception, ValueError)  # the traceback is there for who asks
    monkeypatch.delenv("TOOLKIT_DEBUG", raising=False)


def test_evaluate_checks_split_before_loading(tmp_path):
    assert_one_line_error(run("evaluate", tmp_path, "--split", "validation"), "--split", "test, train or all")


# ---------------------------------------------------------------------------
# 3. a plugin cannot kill the host
# ---------------------------------------------------------------------------
EXIT_PKG = "toolkit_exit_plugins"


@pytest.fixture
def exiting_plugin(tmp_path, monkeypatch):
    """An installed distribution whose entry-point module calls sys.exit() on import."""
    site = tmp_path / "site"
    pkg = site / EXIT_PKG
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "quitter.py").write_text("import sys\nsys.exit('quitter says bye')\n")
    (pkg / "zero.py").write_text("raise SystemExit(0)\n")
    info = site / f"{EXIT_PKG}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toolkit-exit-plugins\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[toolkit]\nquitter = {EXIT_PKG}.quitter\nzero = {EXIT_PKG}.zero\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("TOOLKIT_LOAD_PLUGINS", "quitter,zero")
    registry.reset()
    try:
        yield
    finally:
        registry.reset()
        for name in [m for m in sys.modules if m.startswith(EXIT_PKG)]:
            del sys.modules[name]


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_plugin_calling_sys_exit_is_reported_and_skipped(exiting_plugin, bundle):
    result = run("plugins", "--json")
    assert result.exit_code == 0, result.output
    rows = {row["plugin"]: row for row in json.loads(result.stdout)}
    assert "sys.exit('quitter says bye')" in rows["quitter"]["error"]
    assert "sys.exit(0)" in rows["zero"]["error"]
    assert "nltk" in {t for row in rows.values() for t in row["tokenizers"]}  # the built-ins still load

    registry.reset()
    scored = run("predict", bundle, "a wonderful film")
    assert scored.exit_code == 0, scored.output
    assert json.loads(scored.stdout.splitlines()[0])["label"] == "POSITIVE"

    registry.reset()
    nlp = spacy.blank("en")
    nlp.add_pipe("review_sentiment", config={"model": str(bundle)})  # no SystemExit into the program
    assert nlp("a wonderful film").cats["POSITIVE"] > 0.5


def test_keyboard_interrupt_in_a_plugin_import_is_not_swallowed(tmp_path, monkeypatch):
    site = tmp_path / "site"
    (site / "kbd_plugin").mkdir(parents=True)
    (site / "kbd_plugin" / "__init__.py").write_text("raise KeyboardInterrupt\n")
    info = site / "kbd_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: kbd-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[toolkit]\nkbd = kbd_plugin\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("TOOLKIT_LOAD_PLUGINS", "kbd")
    registry.reset()
    try:
        with pytest.raises(KeyboardInterrupt):
            registry.get_components("tokenizer")
    finally:
        registry.reset()
        sys.modules.pop("kbd_plugin", None)


# ---------------------------------------------------------------------------
# 4. no leftovers: signals, stale temporary work, $TMPDIR
# ---------------------------------------------------------------------------
def _start_export(tmp_path: Path, out: Path, tmpdir: Path) -> subprocess.Popen:
    model = mf.trained_model_dir("toy-dynamic")
    return subprocess.Popen(toolkit_cmd("export", model, "--out", out), env=subprocess_env(tmpdir),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_export_stopped_by_a_signal_leaves_nothing(tmp_path, sig):
    out, tmpdir = tmp_path / "exports" / "b", tmp_path / "sys-tmp"
    tmpdir.mkdir()
    proc = _start_export(tmp_path, out, tmpdir)
    try:
        # wait until the bundle is being written (its temporary folder holds the ONNX model)
        seen = wait_for(lambda: any(out.parent.glob(f".b.{TEMP_MARK}-*/.work/model.fp32.onnx")), proc)
        assert seen, proc.communicate()
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert not out.exists()
    assert leftovers(tmp_path) == []
    assert not out.parent.exists()  # the folder made for the bundle is removed again, being empty
    assert list(tmpdir.iterdir()) == []  # nothing in $TMPDIR either


def test_export_killed_leaves_work_that_the_next_run_and_clean_sweep(tmp_path):
    out, tmpdir = tmp_path / "exports" / "b", tmp_path / "sys-tmp"
    tmpdir.mkdir()
    proc = _start_export(tmp_path, out, tmpdir)
    try:
        assert wait_for(lambda: any(out.parent.glob(f".b.{TEMP_MARK}-*/.work/model.fp32.onnx")), proc)
        proc.kill()  # SIGKILL: nothing can clean up
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    left = leftovers(out.parent)
    assert left and all(name.startswith(f".b.{TEMP_MARK}-{proc.pid}-") for name in left if name.startswith(".b."))
    assert list(tmpdir.iterdir()) == []  # scratch files went beside the output, not to $TMPDIR

    dry = run("clean", out.parent, "--dry-run")
    assert dry.exit_code == 0 and "would remove" in dry.stdout and leftovers(out.parent)
    cleaned = run("clean", out.parent)
    assert cleaned.exit_code == 0, cleaned.output
    assert leftovers(out.parent) == []
    assert "removed 2 leftovers" in cleaned.stdout  # the bundle's folder and the scratch folder

    # the next export to the same target sweeps stale work by itself
    stale = fake_leftover(out, dead_pid())
    result = run("export", mf.trained_model_dir("toy-dynamic"), "--out", out)
    assert result.exit_code == 0, result.output
    assert not stale.exists() and leftovers(out.parent) == []
    assert read_bundle(out).bundle_id


def test_live_processes_work_is_never_swept(tmp_path):
    target = tmp_path / "b"
    mine = fake_leftover(target, os.getpid())
    other_host = tmp_path / f".b.{TEMP_MARK}-{dead_pid()}-otherhost-abcd1234"
    other_host.mkdir()
    assert run("clean", tmp_path).exit_code == 0
    assert mine.exists() and other_host.exists()


def test_clean_finds_what_a_killed_score_left_in_sub_folders(tmp_path):
    # toolkit score keeps its inputs' sub-folders: OUT/a/b/x.parquet, and the Ray engine's grouped writes
    out = tmp_path / "scored"
    (out / "a" / "b").mkdir(parents=True)
    part = fake_leftover(out / "a" / "b" / "x.parquet", dead_pid(), is_dir=False)
    group = fake_leftover(out / "ray-group", dead_pid())
    hidden = fake_leftover(out / ".cache" / "y", dead_pid())  # hidden folders are not entered
    dry = run("clean", out, "--dry-run")
    assert dry.exit_code == 0 and f"would remove: {part}" in dry.stdout and f"would remove: {group}" in dry.stdout
    cleaned = run("clean", out)
    assert cleaned.exit_code == 0 and "removed 2 leftovers" in cleaned.stdout, cleaned.output
    assert not part.exists() and not group.exists() and hidden.exists()


def test_train_sweeps_what_a_killed_train_left(corpus, tmp_path):
    out = tmp_path / "runs" / "m"
    out.parent.mkdir()
    stale = fake_leftover(out, dead_pid())
    (stale / "model.keras").write_bytes(b"half")
    result = run("train", "--data", corpus, "--out", out, "-q", "--epochs", "1", "--set", "vocab.min_count=1",
                 "--set", "training.max_len=40", "--set", "training.calibration=\"none\"")
    assert result.exit_code == 0, result.output
    assert not stale.exists() and leftovers(out.parent) == []
    assert (out / "model.keras").is_file()


def _big_input(path: Path, n: int = 300_000) -> Path:
    words = mf.POSITIVE + mf.NEGATIVE + mf.FILLER
    path.write_text("".join(" ".join(words[(i * 7 + j) % len(words)] for j in range(12)) + "\n" for i in range(n)))
    return path


def test_predict_stopped_by_sigterm_leaves_nothing_and_sigkill_work_is_swept(bundle, tmp_path):
    src = _big_input(tmp_path / "in.txt")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "out.jsonl"
    for sig in (signal.SIGTERM, signal.SIGKILL):
        proc = subprocess.Popen(toolkit_cmd("predict", bundle, "--file", src, "--out", out),
                                env=subprocess_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert wait_for(lambda: any(out_dir.glob(f".out.jsonl.{TEMP_MARK}-*")), proc)
            proc.send_signal(sig)
            _, stderr = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert not out.exists()
        if sig == signal.SIGTERM:
            assert proc.returncode == 130 and "Traceback" not in stderr, stderr
            assert list(out_dir.iterdir()) == []
        else:
            assert [p.name.startswith(f".out.jsonl.{TEMP_MARK}-{proc.pid}-") for p in out_dir.iterdir()] == [True]
    small = tmp_path / "small.txt"
    small.write_text("a wonderful film\nan awful film\n")
    result = run("predict", bundle, "--file", small, "--out", out)
    assert result.exit_code == 0, result.output
    assert [p.name for p in out_dir.iterdir()] == ["out.jsonl"]  # the SIGKILLed run's file was swept
    assert len(out.read_text().splitlines()) == 2


def test_component_copies_in_tmpdir_are_swept(bundle, tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    stale = tmp_path / f".review_sentiment.{TEMP_MARK}-{dead_pid()}-{temp_prefix(tmp_path).split('-')[-2]}-abcd1234"
    stale.mkdir()
    nlp = spacy.blank("en")
    nlp.add_pipe("review_sentiment", config={"model": str(bundle)})
    copy = spacy.blank("en")
    copy.add_pipe("review_sentiment", config={"model": None})
    copy.get_pipe("review_sentiment").from_bytes(nlp.get_pipe("review_sentiment").to_bytes())
    assert not stale.exists()
    assert copy("a wonderful film").cats == nlp("a wonderful film").cats


# ---------------------------------------------------------------------------
# 5. a bundle cannot lie
# ---------------------------------------------------------------------------
def _meta(bundle: Path) -> dict:
    return json.loads((bundle / "bundle.json").read_text())


def test_swapped_labels_are_refused(bundle):
    meta = _meta(bundle)
    meta["labels"] = meta["labels"][::-1]
    (bundle / "bundle.json").write_text(json.dumps(meta, indent=2))
    assert_one_line_error(run("predict", bundle, "a wonderful film"), "does not match its bundle_id")
    with pytest.raises(BundleError, match="does not match its bundle_id"):
        spacy.blank("en").add_pipe("review_sentiment", config={"model": str(bundle)})


@pytest.mark.parametrize("change", ["longer", "shorter"])
def test_vocab_that_does_not_fit_the_model_is_refused_even_when_resigned(bundle, change):
    vocab = (bundle / "vocab.txt").read_text().splitlines()
    vocab = vocab + ["extra1", "extra2"] if change == "longer" else vocab[:-3]
    (bundle / "vocab.txt").write_text("\n".join(vocab) + "\n")
    meta = _meta(bundle)
    meta["vocab"]["size"] = len(vocab)
    finalize_bundle(bundle, meta)  # checksums and id recomputed: only the cross-check can tell
    expected = "embedding rejects id" if change == "longer" else "the model's embedding has"
    assert_one_line_error(run("predict", bundle, "a wonderful film"), "vocab.txt", expected)
    with pytest.raises(BundleError, match=expected):
        spacy.blank("en").add_pipe("review_sentiment", config={"model": str(bundle)})


def test_vocab_size_disagreeing_with_bundle_json_is_refused(bundle):
    meta = _meta(bundle)
    meta["vocab"]["size"] += 1
    finalize_bundle(bundle, meta)
    assert_one_line_error(run("predict", bundle, "fine"), "vocab.txt has", "vocab.size")


def test_damaged_bundle_is_refused_at_add_pipe_not_at_the_first_doc(bundle):
    with open(bundle / "model.onnx", "r+b") as fh:
        fh.seek(100)
        byte = fh.read(1)
        fh.seek(100)
        fh.write(bytes([byte[0] ^ 0xFF]))
    nlp = spacy.blank("en")
    with pytest.raises(BundleError, match="component 'review_sentiment'.*checksum mismatch for model.onnx"):
        nlp.add_pipe("review_sentiment", config={"model": str(bundle)})


def test_bundle_id_is_reported_everywhere_and_tells_bundles_apart(bundle, tmp_path):
    other = mf.make_onnx_bundle(tmp_path / "other", policy="fixed")
    info = run("predict", bundle, "--info")
    assert info.exit_code == 0, info.output
    report = json.loads(info.stdout)
    assert report["bundle_id"] == _meta(bundle)["bundle_id"] and report["bundle_id"].startswith("sha256:")
    assert report["format_version"] == 2 and report["bundle_id_recorded"] is True
    assert json.loads(run("predict", other, "--info").stdout)["bundle_id"] != report["bundle_id"]
    nlp = spacy.blank("en")
    component = nlp.add_pipe("review_sentiment", config={"model": str(bundle)})
    assert component.bundle_id == report["bundle_id"] == component.cfg["bundle_id"]
    assert_one_line_error(run("predict", bundle, "text", "--info"), "--info")


def test_format_1_bundles_are_still_read(bundle):
    meta = _meta(bundle)
    del meta["bundle_id"]
    meta["format_version"] = 1
    (bundle / "bundle.json").write_text(json.dumps(meta))
    info = json.loads(run("predict", bundle, "--info").stdout)
    assert info["format_version"] == 1 and info["bundle_id_recorded"] is False and info["bundle_id"]
    assert run("predict", bundle, "a wonderful film").exit_code == 0
    # but a version-2 bundle.json without its id is refused
    meta["format_version"] = 2
    (bundle / "bundle.json").write_text(json.dumps(meta))
    assert_one_line_error(run("predict", bundle, "fine"), "'bundle_id' is missing")


def test_component_settings_are_checked_at_add_pipe(bundle):
    nlp = spacy.blank("en")
    from toolkit.core.errors import ConfigError

    with pytest.raises(ConfigError, match="threshold"):
        nlp.add_pipe("review_sentiment", config={"model": str(bundle), "threshold": 1.5})


# ---------------------------------------------------------------------------
# 6. messages that name the user's path and the options that exist
# ---------------------------------------------------------------------------
def test_predict_non_utf8_file_advises_an_option_predict_has(bundle, tmp_path):
    src = tmp_path / "latin.txt"
    src.write_bytes("un film tr\xe8s wonderful\n".encode("latin-1"))
    out = tmp_path / "out.jsonl"
    line = assert_one_line_error(run("predict", bundle, "--file", src, "--out", out), "not valid utf-8", "--encoding")
    assert "--encoding latin-1" in line
    result = run("predict", bundle, "--file", src, "--out", out, "--encoding", "latin-1")
    assert result.exit_code == 0, result.output
    assert len(out.read_text().splitlines()) == 1
    assert_one_line_error(run("predict", bundle, "--file", src, "--out", tmp_path / "o2.jsonl", "--encoding", "x"),
                          "--encoding")


def test_output_paths_in_errors_are_the_users_not_temporary_ones(corpus, bundle, tmp_path):
    somedir = tmp_path / "somedir"
    somedir.mkdir()
    line = assert_one_line_error(run("vocab", "build", "--data", corpus, "--overwrite", "--out", somedir),
                                 str(somedir), "is a folder")
    assert TEMP_MARK not in line and ".tmp" not in line
    src = tmp_path / "in.txt"
    src.write_text("good\n")
    line = assert_one_line_error(run("predict", bundle, "--file", src, "--out", somedir, "--overwrite"),
                                 str(somedir), "is a folder")
    assert TEMP_MARK not in line and ".tmp" not in line
    assert list(somedir.iterdir()) == [] and leftovers(tmp_path) == []


def test_unwritable_output_is_found_before_training(corpus, tmp_path):
    blocker = tmp_path / "afile"
    blocker.write_text("not a folder")
    start = time.monotonic()
    assert_one_line_error(run("train", "--data", corpus, "--out", blocker / "m", "-q"), str(blocker), "is a file")
    assert_one_line_error(run("train", "--data", corpus, "--out", blocker / "m", "-q", "--cv", "3"), "is a file")
    assert_one_line_error(run("export", mf.trained_model_dir("toy-dynamic"), "--out", blocker / "b"), "is a file")
    assert_one_line_error(run("export", mf.trained_model_dir("toy-dynamic"), "--out", blocker, "--overwrite"),
                          "not a folder")
    assert time.monotonic() - start < 60  # no training ran (20 epochs would take minutes)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write to a read-only folder")
def test_read_only_output_folder_is_found_before_training(corpus, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        assert_one_line_error(run("train", "--data", corpus, "--out", locked / "m", "-q"), str(locked), "not writable")
    finally:
        locked.chmod(0o755)


def test_read_only_file_system_is_found_before_training(corpus):
    target = Path("/proc/toolkit-test-model")  # /proc refuses new entries, even for root
    if not Path("/proc").is_dir():
        pytest.skip("no /proc")
    assert_one_line_error(run("train", "--data", corpus, "--out", target, "-q"), "/proc", "not writable")


def test_predict_refuses_bad_threads_and_no_input(bundle):
    assert_one_line_error(run("predict", bundle, "good", "--threads", "0"), "--threads")
    assert_one_line_error(run("predict", bundle), "give texts")
    assert_one_line_error(run("predict", bundle, "--file", "x.txt"), "--file needs --out")


def test_missing_and_damaged_inputs_are_one_line(tmp_path, bundle):
    assert_one_line_error(run("predict", tmp_path / "nope", "good"), "does not exist")
    assert_one_line_error(run("export", tmp_path / "nope"), "does not exist")
    assert_one_line_error(run("evaluate", tmp_path / "nope"), "does not exist")
    (bundle / "bundle.json").write_bytes(b"\xff\xfe{")
    assert_one_line_error(run("predict", bundle, "good"), "bundle.json", "not valid JSON")
    assert_one_line_error(run("clean", tmp_path / "no" / "such"), "does not exist")


def test_malformed_csv_is_refused_with_its_line_not_merged(bundle, tmp_path):
    src = tmp_path / "in.csv"
    src.write_text('text,id\n"a fine film",1\n"unterminated,2\nmore text\n')
    assert_one_line_error(run("predict", bundle, "--file", src, "--out", tmp_path / "o.jsonl"),
                          "in.csv, line 3", "malformed CSV")
    corpus = tmp_path / "c.csv"
    corpus.write_text('text,label\n"good film",pos\n"bad" film,neg\n')
    assert_one_line_error(run("data", "info", "--data", corpus), "c.csv, line 3", "malformed CSV")
    assert not (tmp_path / "o.jsonl").exists() and leftovers(tmp_path) == []
