"""spaCy component ``review_sentiment``: a toolkit bundle scoring ``doc.cats``.

Serving half: this module imports spaCy, numpy and the toolkit serving modules
(:mod:`toolkit.core.bundle`, :mod:`toolkit.serving.runtime`) only, never TensorFlow, Keras,
tf2onnx or gensim.

The factory is declared with ``@Language.factory`` and exposed through the
``spacy_factories`` entry point (see ``pyproject.toml``), so this works in a
fresh process without importing toolkit first::

    import spacy
    nlp = spacy.blank("en")
    nlp.add_pipe("review_sentiment")                          # the shipped default model
    nlp.add_pipe("review_sentiment", config={"model": "exports/my-bundle"})
    nlp("A tense, beautifully acted film.").cats              # {"NEGATIVE": 0.02, "POSITIVE": 0.98}

Config (``[components.review_sentiment]``):

``model``
    Folder of a bundle written by ``toolkit export``. ``""`` (the default)
    means the shipped default model, ``toolkit/serving/models/default``. ``null``
    means "no bundle yet": the component is built without model files, as
    spaCy's trainable components are, and gets its bundle from ``from_disk``
    or ``from_bytes`` (useful to load a saved pipeline whose original bundle
    path does not exist on this machine:
    ``spacy.load(path, config={"components.review_sentiment.model": None})``).
    A path that does not exist, or is not a valid bundle, is refused when the
    component is created (``nlp.add_pipe``), with a message naming the path.
``threshold``
    Passed to the scorer, as ``textcat`` does. An exclusive bundle's labels
    are mutually exclusive, so evaluation takes the highest-scoring label and
    spaCy's scorer ignores the threshold; it is kept for symmetry with
    ``textcat`` and for custom scorers. A multi-label bundle is scored at its
    own per-label thresholds (``bundle.json["thresholds"]``, chosen on
    held-out data at training), not at this one; ``component.score(examples,
    threshold=0.5)`` scores every label at one cut instead.
``batch_size``
    Most documents per onnxruntime call.
``threads``
    onnxruntime intra-op threads; ``0`` lets onnxruntime decide.
``explain`` / ``explain_top``
    Also put the words and word pairs that moved the score most into
    ``doc.spans["sentiment_explanations"]`` (signed weights in
    ``span._.sentiment_weight``; :mod:`toolkit.serving.occlusion`). Off by default.
``sentences``
    Also score each sentence into ``doc.spans["sentiment_sentences"]`` (scores in
    ``span._.sentiment_cats``); needs sentence boundaries (:mod:`toolkit.serving.sentences`).
``scorer``
    spaCy's ``spacy.textcat_scorer.v2`` (exclusive classes), so
    ``nlp.evaluate`` reports ``cats_score``, ``cats_macro_f``,
    ``cats_f_per_type`` and the rest exactly as for ``textcat``. With a
    multi-label bundle (non-exclusive labels: ``doc.cats`` holds one
    independent probability per label) spaCy's own
    ``spacy.textcat_multilabel_scorer.v2`` is used instead of that default, so
    ``nlp.evaluate`` reports like ``textcat_multilabel`` (``cats_score`` is the
    macro AUC; P/R/F count a label when its probability reaches the label's
    threshold). Any other scorer is called as configured.

Creating the component checks the whole bundle and loads it
(:func:`toolkit.serving.component_bundle.load_checked`): a damaged bundle is
refused at ``nlp.add_pipe``. A forked worker
(``nlp.pipe(..., n_process=2)``) creates its own session instead of reusing the
parent's, whose thread pool does not survive ``fork``; a pickled component
(spawn-based multiprocessing) carries its bundle as bytes.

``to_disk`` copies the whole bundle into ``<path>/bundle`` and ``from_disk``
loads it from there, so ``nlp.to_disk(d)`` then ``spacy.load(d)`` gives the same
``doc.cats`` without the original bundle.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import weakref
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np
import srsly
from spacy.language import Language
from spacy.pipeline import Pipe
from spacy.pipeline.textcat import textcat_score
from spacy.pipeline.textcat_multilabel import textcat_multilabel_score
from spacy.tokens import Doc
from spacy.training import Example, validate_examples
from spacy.util import minibatch

from toolkit.core.atomic import as_new_folder, make_temp_dir
from toolkit.serving.component_bundle import FACTORY, describe_pipe, load_checked, resolve_model
from toolkit.core.bundle import BundleInfo
from toolkit.core.errors import BundleError
from toolkit.core.options import check_float, check_int

#: The sub-folder of a serialised component that holds its bundle.
BUNDLE_DIR = "bundle"
CFG_FILE = "cfg.json"
#: Keys ``self.cfg`` holds besides ``labels`` (all from the factory config).
_SETTINGS = ("model", "threshold", "batch_size", "threads")
#: Runtimes inherited through ``fork`` from a parent process. They are never
#: used (their onnxruntime thread pools did not survive the fork) and never
#: freed: destroying such a session waits forever on its dead worker threads.
_INHERITED_RUNTIMES: list[Any] = []


@Language.factory(
    FACTORY,
    assigns=["doc.cats"],  # and doc.spans with explain / sentences on
    default_config={
        "model": "",
        "threshold": 0.5,
        "batch_size": 64,
        "threads": 0,
        "explain": False,  # doc.spans["sentiment_explanations"] (toolkit.serving.occlusion)
        "explain_top": 10,
        "sentences": False,  # doc.spans["sentiment_sentences"] (toolkit.serving.sentences)
        "scorer": {"@scorers": "spacy.textcat_scorer.v2"},
    },
    default_score_weights={
        "cats_score": 1.0,
        "cats_score_desc": None,
        "cats_micro_p": None,
        "cats_micro_r": None,
        "cats_micro_f": None,
        "cats_macro_p": None,
        "cats_macro_r": None,
        "cats_macro_f": None,
        "cats_macro_auc": None,
        "cats_f_per_type": None,
    },
)
def make_review_sentiment(
    nlp: Language,
    name: str,
    model: str | None,
    threshold: float,
    batch_size: int,
    threads: int,
    explain: bool,
    explain_top: int,
    sentences: bool,
    scorer: Callable | None,
) -> "ReviewSentiment":
    """Create a :class:`ReviewSentiment` component (the ``review_sentiment`` factory)."""
    return ReviewSentiment(
        name,
        model=model,
        threshold=threshold,
        batch_size=batch_size,
        threads=threads,
        explain=explain, explain_top=explain_top, sentences=sentences,
        scorer=scorer,
    )


class ReviewSentiment(Pipe):
    """Scores each ``Doc`` with an ONNX review-sentiment bundle and sets ``doc.cats``.

    ``doc.cats`` gets one float per label of the bundle (mutually exclusive
    classes; they sum to 1 for a softmax model; a multi-label bundle's are
    independent). A whole batch is scored with one onnxruntime call per
    ``batch_size`` documents.
    """

    def __init__(
        self,
        name: str = FACTORY,
        *,
        model: str | os.PathLike | None = "",
        threshold: float = 0.5,
        batch_size: int = 64,
        threads: int = 0,
        explain: bool = False,
        explain_top: int = 10,
        sentences: bool = False,
        scorer: Callable | None = textcat_score,
    ) -> None:
        self.name = name
        self.scorer = scorer
        pipe = describe_pipe(name)
        check_int(batch_size, "batch_size", minimum=1, component=pipe, subject="config 'batch_size'")
        check_int(threads, "threads", minimum=0, component=pipe, subject="config 'threads'",
                  hint="0 lets onnxruntime decide")
        check_float(threshold, "threshold", minimum=0, maximum=1, component=pipe, subject="config 'threshold'")
        self.cfg: dict[str, Any] = {
            "model": None if model is None else str(model),
            "threshold": float(threshold),
            "batch_size": batch_size,
            "threads": threads,
            "labels": [],
            "bundle_id": None,
        }
        #: What else set_annotations adds (docs/trust.md): explanation spans, sentence spans.
        self.extras = {"explain": bool(explain), "explain_top": int(explain_top), "sentences": bool(sentences)}
        self._info: BundleInfo | None = None
        self._runtime = None
        self._runtime_pid: int | None = None
        self._lock = threading.Lock()
        self._cleanup: weakref.finalize | None = None  # removes a private copy made by from_bytes
        path = resolve_model(model, name)
        if path is not None:
            self._use_bundle(path)

    # ------------------------------------------------------------------ bundle
    def _use_bundle(self, path: Path) -> None:
        """Switch to the bundle in ``path``: checked whole and loaded now (:func:`_load_checked`)."""
        runtime = load_checked(path, self.name, self.cfg["threads"])
        with self._lock:
            self._drop_runtime()
            self._info = runtime.info
            self._runtime = runtime
            self._runtime_pid = os.getpid()
            self.cfg["labels"] = list(runtime.info.labels)
            self.cfg["bundle_id"] = runtime.info.bundle_id

    @property
    def bundle_id(self) -> str | None:
        """``sha256:...`` of the bundle in use (``bundle.json["bundle_id"]``; computed for format-1
        bundles), to tell two bundles apart; ``None`` before one is loaded."""
        return None if self._info is None else self._info.bundle_id

    def _drop_runtime(self) -> None:
        """Forget the current runtime; one inherited through ``fork`` is parked, never freed."""
        if self._runtime is not None and self._runtime_pid != os.getpid():
            _INHERITED_RUNTIMES.append(self._runtime)
        self._runtime = None
        self._runtime_pid = None

    @property
    def bundle_path(self) -> Path | None:
        """The folder of the bundle in use (``None`` before one is loaded)."""
        return None if self._info is None else self._info.path

    @property
    def bundle_info(self) -> BundleInfo | None:
        """The checked ``bundle.json`` of the bundle in use."""
        return self._info

    @property
    def labels(self) -> tuple[str, ...]:
        """The bundle's labels, in the order of the model's outputs."""
        return tuple(self.cfg["labels"])

    @property
    def label_data(self) -> list[str]:
        return list(self.labels)

    @property
    def runtime(self):
        """The :class:`toolkit.serving.runtime.Runtime` of this process, created on first use."""
        pid = os.getpid()
        runtime = self._runtime
        if runtime is not None and self._runtime_pid == pid:
            return runtime
        with self._lock:
            if self._runtime is None or self._runtime_pid != pid:
                if self._info is None:
                    raise BundleError(
                        f"{describe_pipe(self.name)} has no model bundle: it was created with "
                        f"model = null and nothing was loaded into it; load one with from_disk/from_bytes, "
                        f"or create it with config={{\"model\": \"path/to/bundle\"}}"
                    )
                from toolkit.serving.runtime import Runtime

                self._drop_runtime()
                threads = self.cfg["threads"] or None
                self._runtime = Runtime.load(self._info.path, threads=threads, verify=True)
                self._runtime_pid = pid
            return self._runtime

    # ------------------------------------------------------------------ processing
    def __call__(self, doc: Doc) -> Doc:
        """Score one ``Doc`` and set ``doc.cats``."""
        error_handler = self.get_error_handler()
        try:
            scores = self.predict([doc])
            self.set_annotations([doc], scores)
            return doc
        except Exception as exc:
            error_handler(self.name, self, [doc], exc)
            return doc

    def pipe(self, stream: Iterable[Doc], *, batch_size: int | None = None) -> Iterator[Doc]:
        """Score a stream of ``Doc`` objects in minibatches of ``batch_size`` (default: ``cfg``)."""
        error_handler = self.get_error_handler()
        for docs in minibatch(stream, size=batch_size or self.cfg["batch_size"]):
            try:
                scores = self.predict(docs)
                self.set_annotations(docs, scores)
                yield from docs
            except Exception as exc:
                error_handler(self.name, self, docs, exc)

    def predict(self, docs: Iterable[Doc]) -> np.ndarray:
        """Scores ``[len(docs), len(labels)]`` of a batch, without changing the docs.

        One onnxruntime call per ``cfg["batch_size"]`` documents. An empty
        batch costs nothing; an empty ``Doc`` gets the model's score of an
        all-padding input.
        """
        docs = list(docs)
        if not docs:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        scores = self.runtime.score(docs, batch_size=self.cfg["batch_size"])
        return np.asarray(scores)

    def set_annotations(self, docs: Sequence[Doc], scores: np.ndarray) -> None:
        """Write ``doc.cats[label] = score`` for every label of the bundle."""
        labels = self.labels
        for i, doc in enumerate(docs):
            for j, label in enumerate(labels):
                doc.cats[label] = float(scores[i, j])
        if self.extras["sentences"]:  # doc.spans["sentiment_sentences"]; needs sentence boundaries
            from toolkit.serving.sentences import score_sentences

            score_sentences(self.runtime, docs, batch_size=self.cfg["batch_size"], component=self.name)
        if self.extras["explain"]:  # doc.spans["sentiment_explanations"]
            from toolkit.serving.occlusion import explain_docs

            explain_docs(self.runtime, docs, top=self.extras["explain_top"])

    def initialize(self, get_examples: Callable[[], Iterable[Example]] | None = None, *, nlp: Language | None = None) -> None:
        """Nothing to train: the bundle is ready. Checks that a bundle is there."""
        self.runtime  # noqa: B018 - raises the clear "no bundle" error, loads the session

    @property
    def multi_label(self) -> bool:
        """Whether the bundle in use has non-exclusive labels (``bundle.json["multi_label"]``)."""
        return self._info is not None and self._info.multi_label

    def score(self, examples: Iterable[Example], **kwargs: Any) -> dict[str, Any]:
        """Score like spaCy's ``textcat`` (exclusive classes, the bundle's labels), or for a multi-label
        bundle like ``textcat_multilabel``, each label decided at the bundle's threshold for it.

        Returns ``cats_score`` (macro F; for a multi-label bundle the macro AUC), ``cats_micro_*``,
        ``cats_macro_*``, ``cats_f_per_type`` and ``cats_auc_per_type``.
        """
        validate_examples(examples, "ReviewSentiment.score")
        if self.scorer is None:
            return {}
        settings: dict[str, Any] = {"labels": self.labels, "threshold": self.cfg["threshold"]}
        scorer = self.scorer
        if self.multi_label:
            if scorer is textcat_score:  # the default exclusive scorer: spaCy's multi-label one instead
                scorer = textcat_multilabel_score
            if scorer is textcat_multilabel_score and "threshold" not in kwargs:
                examples = list(examples)
                settings.update(threshold=0.5, getter=_threshold_getter(examples, self.labels,
                                                                        self._info.thresholds))
        settings.update(kwargs)
        return scorer(examples, **settings)

    # ------------------------------------------------------------------ serialisation
    def _bundle_files(self) -> list[Path]:
        if self._info is None:
            raise BundleError(f"{describe_pipe(self.name)} has no model bundle to save")
        return sorted(p for p in self._info.path.iterdir() if p.is_file() and not p.name.startswith("."))

    def to_disk(self, path: str | os.PathLike, *, exclude: Iterable[str] = tuple()) -> None:
        """Write ``cfg.json`` and a copy of the whole bundle (``bundle/``) into ``path``."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        if "cfg" not in exclude:
            srsly.write_json(path / CFG_FILE, self.cfg)
        if BUNDLE_DIR in exclude or self._info is None:
            return
        target = path / BUNDLE_DIR
        if target.exists() and target.resolve() == self._info.path.resolve():
            return  # saving a pipeline into the folder it was loaded from
        tmp = make_temp_dir(target)  # .bundle.toolkit-tmp-<pid>-...: swept by the next save if this one is killed
        as_new_folder(tmp)
        try:
            for file in self._bundle_files():
                shutil.copy2(file, tmp / file.name)
            if target.exists():
                shutil.rmtree(target)
            os.replace(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def from_disk(self, path: str | os.PathLike, *, exclude: Iterable[str] = tuple()) -> "ReviewSentiment":
        """Load the bundle saved by :meth:`to_disk` in ``path``; returns ``self``."""
        path = Path(path)
        if "cfg" not in exclude and (path / CFG_FILE).is_file():
            saved = srsly.read_json(path / CFG_FILE)
            if isinstance(saved, dict):
                self.cfg["labels"] = list(saved.get("labels") or self.cfg["labels"])
        if BUNDLE_DIR not in exclude:
            bundle = path / BUNDLE_DIR
            if not bundle.is_dir():
                raise BundleError(
                    f"{describe_pipe(self.name)}: no saved bundle in {bundle}; "
                    f"the pipeline folder is incomplete, save it again with nlp.to_disk"
                )
            self._use_bundle(bundle)
            self._set_cleanup(None)
        return self

    def to_bytes(self, *, exclude: Iterable[str] = tuple()) -> bytes:
        """The component's ``cfg`` and every file of its bundle, as msgpack bytes."""
        data: dict[str, Any] = {}
        if "cfg" not in exclude:
            data["cfg"] = dict(self.cfg)
        if BUNDLE_DIR not in exclude and self._info is not None:
            data[BUNDLE_DIR] = {file.name: file.read_bytes() for file in self._bundle_files()}
        return srsly.msgpack_dumps(data)

    def from_bytes(self, bytes_data: bytes, *, exclude: Iterable[str] = tuple()) -> "ReviewSentiment":
        """Load what :meth:`to_bytes` wrote; returns ``self``.

        The bundle's files go to a private temporary folder, removed when the
        component is garbage-collected or the process exits.
        """
        data = srsly.msgpack_loads(bytes_data)
        if "cfg" not in exclude and isinstance(data.get("cfg"), dict):
            self.cfg["labels"] = list(data["cfg"].get("labels") or self.cfg["labels"])
        files = data.get(BUNDLE_DIR)
        if BUNDLE_DIR not in exclude and files:
            # .review_sentiment.toolkit-tmp-<pid>-<host>-XXXX in the temporary folder: a process killed
            # before its cleanup ran leaves one, swept by the next from_bytes (and `toolkit clean $TMPDIR`)
            folder = make_temp_dir(Path(tempfile.gettempdir()) / FACTORY)
            cleanup = weakref.finalize(self, _remove_tree, str(folder), os.getpid())
            try:
                for name, content in files.items():
                    if Path(name).name != name or name in (".", ".."):
                        raise BundleError(f"{describe_pipe(self.name)}: bad file name {name!r} in the serialised bundle")
                    (folder / name).write_bytes(content)
                self._use_bundle(folder)
            except BaseException:
                cleanup()
                raise
            self._set_cleanup(cleanup)
        return self

    def _set_cleanup(self, cleanup: "weakref.finalize | None") -> None:
        """Remember how to remove the private copy of the bundle in use; remove the previous one."""
        previous, self._cleanup = self._cleanup, cleanup
        if previous is not None:
            previous()

    # ------------------------------------------------------------------ pickling
    def __reduce__(self):
        """Pickle as settings + bundle bytes; the session is recreated lazily where unpickled."""
        settings = {**{key: self.cfg[key] for key in _SETTINGS}, **self.extras}
        return (_unpickle, (self.name, settings, self.scorer, self.to_bytes()))

    def __repr__(self) -> str:
        where = self.bundle_path if self.bundle_path is not None else "no bundle"
        return f"<ReviewSentiment {self.name!r} {where} labels={list(self.labels)}>"


def _threshold_getter(examples: Sequence[Example], labels: Sequence[str],
                      thresholds: Sequence[float]) -> Callable[[Doc, str], dict[str, Any]]:
    """A ``getter`` for spaCy's ``Scorer.score_cats`` that decides each label at its own threshold ``t``
    while the scorer cuts at 0.5: a predicted doc's score ``p`` of a label is mapped to 0.5 at ``t``,
    linearly below and above (0 stays 0, 1 stays 1), so ``p >= t`` exactly when the mapped score is >= 0.5,
    and each label's ranking, hence its ROC AUC, is unchanged. Gold docs' cats are returned as they are."""
    cut = dict(zip(labels, (float(t) for t in thresholds)))
    predicted = {id(example.predicted) for example in examples}
    below = float(np.nextafter(0.5, 0.0))

    def mapped(p: float, t: float) -> float:
        if p >= t:
            return 1.0 if t >= 1.0 else 0.5 + 0.5 * (p - t) / (1.0 - t)
        return min(0.5 * p / t, below)

    def getter(doc: Doc, attr: str) -> dict[str, Any]:
        cats = getattr(doc, attr)
        if id(doc) not in predicted:
            return cats
        return {label: mapped(float(p), cut[label]) if label in cut else p for label, p in cats.items()}

    return getter


def _remove_tree(folder: str, owner_pid: int) -> None:
    """Remove a private bundle copy, only in the process that made it (not in forked workers)."""
    if os.getpid() == owner_pid:
        shutil.rmtree(folder, ignore_errors=True)


def _unpickle(name: str, settings: dict[str, Any], scorer: Callable | None, data: bytes) -> ReviewSentiment:
    settings = dict(settings)
    model = settings.pop("model", None)
    # the bundle comes from the bytes, not from the original path (which may not exist here)
    component = ReviewSentiment(name, model=None, scorer=scorer, **settings)
    component.from_bytes(data)
    component.cfg["model"] = model
    return component
