"""The boundary between the halves: serving work in a fresh process loads no training module.

Checked after real work: the spaCy component (shipped default and a given
bundle), the runtime, and `toolkit predict` (texts and --file) through the CLI's
own entry point; and the error path (an unknown tokenizer, looked up or named
by a bundle) imports none of the training half's built-ins. And statically: no module under toolkit/serving imports
toolkit.training or toolkit.cli.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

from boundary import assert_serving_only, report_code
from spacy_helpers import lexicon_bundle, run_python

SERVING = Path(__file__).resolve().parents[2] / "toolkit" / "serving"
DEFAULT = SERVING / "models" / "default"


def test_spacy_component_loads_no_training_module():
    code = report_code() + '''
import json, spacy
nlp = spacy.blank("en")
nlp.add_pipe("review_sentiment")
cats = [d.cats for d in nlp.pipe(["A tense, beautifully acted film.", "", "Dull and far too long."])]
print(json.dumps({"cats": cats, **_boundary_report()}))
'''
    result = run_python(code, env={"TOOLKIT_LOAD_PLUGINS": ""})
    assert len(result["cats"]) == 3 and set(result["cats"][0]) == {"NEGATIVE", "POSITIVE"}
    assert_serving_only(result)


def test_toolkit_predict_loads_no_training_module(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(json.dumps({"id": i, "text": t}) for i, t in enumerate(["Great fun.", "Awful."])) + "\n")
    code = report_code() + '''
import json, sys
from toolkit.cli.app import app
bundle, src, out = sys.argv[1:4]
for args in (["predict", bundle, "A gripping film."], ["predict", bundle, "--file", src, "--out", out]):
    try:
        app(args, standalone_mode=False)
    except SystemExit as exc:
        assert not exc.code, exc.code
print(json.dumps(_boundary_report()))
'''
    result = run_python(code, str(DEFAULT), str(src), str(tmp_path / "out.jsonl"), env={"TOOLKIT_LOAD_PLUGINS": ""})
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 2
    assert_serving_only(result)


def test_runtime_loads_no_training_module():
    code = report_code() + '''
import json, sys
from toolkit.serving.runtime import Runtime
out = Runtime.load(sys.argv[1]).predict(["A great film.", ""])
print(json.dumps({"labels": [o["label"] for o in out], **_boundary_report()}))
'''
    result = run_python(code, str(DEFAULT), env={"TOOLKIT_LOAD_PLUGINS": ""})
    assert result["labels"][0] == "POSITIVE"
    assert_serving_only(result)


def test_unknown_component_errors_load_no_training_module(tmp_path):
    """The error path too: an unknown tokenizer name (looked up, and named by a bundle) is one line
    listing what exists, and finding that out imports none of the training half's built-ins."""
    bundle = lexicon_bundle(tmp_path / "bundle", tokenizer="no-such-tokenizer")
    code = report_code() + '''
import contextlib, io, json, sys
from toolkit.cli.app import app
from toolkit.core import registry
from toolkit.core.errors import RegistryError
try:
    registry.lookup("tokenizer", "no-such-tokenizer")
    raise AssertionError("no error")
except RegistryError as exc:
    lookup_error = str(exc)
stderr = io.StringIO()
with contextlib.redirect_stderr(stderr):
    try:
        code = app(["predict", sys.argv[1], "A gripping film."], standalone_mode=False)  # typer.Exit: its code
    except SystemExit as exc:
        code = exc.code
print(json.dumps({"lookup": lookup_error, "predict": [code, stderr.getvalue()], **_boundary_report()}))
'''
    result = run_python(code, str(bundle), env={"TOOLKIT_LOAD_PLUGINS": ""})
    assert result["lookup"].splitlines() == [result["lookup"]]
    assert "unknown tokenizer 'no-such-tokenizer'; available tokenizers: nltk, spacy" in result["lookup"]
    code, stderr = result["predict"]
    assert code == 1 and len(stderr.strip().splitlines()) == 1, stderr
    assert "needs tokenizer 'no-such-tokenizer', which is not installed" in stderr
    assert_serving_only(result)
