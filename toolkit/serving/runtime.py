"""The serving runtime: score texts with a bundle's ONNX model, no TensorFlow.

This module belongs to the serving half. It imports numpy, onnxruntime and the
toolkit's light modules, and never TensorFlow, Keras, tf2onnx or gensim (a test
checks ``sys.modules`` in a fresh process).

    >>> rt = Runtime.load("exports/cnn")
    >>> rt.predict(["A gripping, beautifully shot film."])
    [{'label': 'POSITIVE', 'probabilities': {'NEGATIVE': 0.08, 'POSITIVE': 0.92}}]

One entry for each kind of input: :meth:`Runtime.score` (texts or spaCy ``Doc``
objects), :meth:`Runtime.score_ids` (model ids, what :meth:`Runtime.encode`
gives), and :meth:`Runtime.predict` (texts, as records).

Scoring pipeline: text -> tokenizer (rebuilt from the registry by the name and
config recorded in ``bundle.json``) -> vocabulary ids (n-grams added as at
training, truncated to ``max_len``) -> padded batches -> one onnxruntime
session -> probabilities in label order.

Batching follows the bundle's length policy:

* ``fixed``: every batch is post-padded (and truncated) to ``max_len``, in input
  order.
* ``dynamic``: documents are sorted by length and cut into buckets of
  ``batch_size``; each bucket is padded to its own longest document, capped at
  ``max_len`` and at least ``min_len`` wide. Scores come back in input order.
  A model without masking (e.g. global max pooling over padding) can give a
  slightly different score for one document padded to different widths;
  sorting keeps the padding, and so that effect, small.

Multi-label bundles (``bundle.json["multi_label"]``: non-exclusive labels) give
one independent probability per label (they do not sum to 1); a label is
predicted when its probability reaches its threshold (``bundle.json["thresholds"]``,
:attr:`Runtime.thresholds`), so a record lists ``labels``, possibly none, where an
exclusive bundle's names its one ``label``.

Empty documents (no tokens after tokenizing: an empty or white-space-only
text) have a defined score: the model's output for one all-padding row, ``min_len``
wide under the dynamic policy and ``max_len`` wide under the fixed one
(:attr:`Runtime.empty_score`). It does not depend on the other documents in the
batch. Long texts are truncated to ``max_len`` ids, as in training.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from toolkit.core.errors import BundleError, ConfigError, ToolkitError, VocabError
from toolkit.core.batching import DEFAULT_BATCH_SIZE, empty_width, score_batches
from toolkit.core.bundle import INPUT_NAME, OUTPUT_NAME, VOCAB_FILE, BundleInfo, read_bundle
from toolkit.core.calibration import Calibration
from toolkit.serving.doc_encoding import DocEncoder, can_encode_docs
from toolkit.core.vocab import Vocab


# ---------------------------------------------------------------------------
# the runtime
# ---------------------------------------------------------------------------
def _is_doc(obj: Any) -> bool:
    """Whether ``obj`` is a spaCy ``Doc`` (without importing spaCy for plain strings)."""
    if isinstance(obj, str) or type(obj).__name__ != "Doc":
        return False
    from spacy.tokens import Doc

    return isinstance(obj, Doc)


def _session_options(threads: int | None):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ConfigError(f"threads must be an integer >= 1 (or None for onnxruntime's default), got {threads!r}")
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    return options


def open_session(model_path: str | os.PathLike, threads: int | None = None):
    """An onnxruntime CPU session on ``model_path`` (graph optimisations on)."""
    import onnxruntime as ort

    options = _session_options(threads)
    try:
        return ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own pybind exception types
        raise BundleError(f"onnxruntime cannot load {model_path}: {type(exc).__name__}: {exc}") from exc


_ORT_INT_TYPES = {"tensor(int32)": np.int32, "tensor(int64)": np.int64}


class Runtime:
    """A loaded bundle: tokenizer, vocabulary and one onnxruntime session.

    Build it with :meth:`Runtime.load`. Attributes: ``labels``, ``tokenizer``,
    ``vocab``, ``length_policy``, ``max_len``, ``min_len``, ``info`` (the
    :class:`~toolkit.core.bundle.BundleInfo`) and ``session``. A runtime is safe to
    share between threads (onnxruntime sessions are).
    """

    def __init__(self, info: BundleInfo, session: Any, tokenizer: Any, vocab: Vocab):
        self.info = info
        self.session = session
        self.tokenizer = tokenizer
        self.vocab = vocab
        self.labels: list[str] = list(info.labels)
        self.length_policy: str = info.length_policy
        self.max_len: int = info.max_len
        self.min_len: int = info.min_len
        self._input_dtype = np.int32
        #: Non-exclusive labels: one probability per label, each decided at its threshold.
        self.multi_label: bool = info.multi_label
        #: float32 [n_labels]: the threshold of each label (multi-label bundles), else ``None``.
        self.thresholds = None if info.thresholds is None else np.asarray(info.thresholds, dtype=np.float32)
        #: ``bundle.json["calibration"]``, applied to every score (:mod:`toolkit.core.calibration`).
        self.calibration = Calibration.from_record(info.meta.get("calibration"), where=f"{info.path}/bundle.json",
                                                   labels=info.labels, multi_label=info.multi_label)
        self.temperature: float | None = self.calibration.temperature
        self._empty_score: np.ndarray | None = None
        self._doc_encoder: DocEncoder | None = None
        self._doc_lock = threading.Lock()
        self._check_session()

    # -- loading ---------------------------------------------------------------
    @classmethod
    def load(cls, path: str | os.PathLike, *, threads: int | None = None, verify: bool = True) -> "Runtime":
        """Load the bundle in folder ``path``.

        Args:
            threads: onnxruntime intra-op threads (None: onnxruntime's default,
                one per physical core).
            verify: check the sha256 of every file against ``bundle.json``.

        Raises:
            BundleError: the bundle is missing, damaged, of a newer format, or
                needs a tokenizer that is not installed (the message names the
                plugin distribution to install).
        """
        from toolkit.core import registry

        info = read_bundle(path, verify=verify)
        tok = info.tokenizer
        try:
            tokenizer = registry.create("tokenizer", tok["name"], **tok["config"])
        except ToolkitError as exc:
            if isinstance(exc, BundleError):
                raise
            raise BundleError(
                f"bundle {info.path}: tokenizer {tok['name']!r} rejected the config recorded in bundle.json "
                f"({tok['config']!r}; made with {tok.get('distribution', '?')} {tok.get('version', '?')}): {exc.message}"
            ) from exc
        try:
            # vocab.npz (the bigram index) when the bundle has it; an older bundle's is built on first use.
            vocab = Vocab.from_file(info.vocab_path, ngrams=info.ngrams, unknown=info.unknown,
                                    index=info.vocab_index_path, source_sha256=info.files[VOCAB_FILE].lower())
        except VocabError as exc:
            raise BundleError(f"bundle {info.path}: {exc.message}") from exc
        recorded = (info.meta.get("vocab") or {}).get("size")
        if isinstance(recorded, int) and not isinstance(recorded, bool) and recorded != len(vocab):
            raise BundleError(f"bundle {info.path}: vocab.txt has {len(vocab)} entries but bundle.json records "
                              f"vocab.size {recorded}; the bundle was assembled from mismatched files; export it again")
        session = open_session(info.model_path, threads)
        runtime = cls(info, session, tokenizer, vocab)
        runtime._cross_check()
        return runtime

    def _cross_check(self) -> None:
        """Load-time checks that the files agree with each other: the model's embedding covers exactly
        the vocabulary's ids, and it gives one finite probability per label."""
        path = self.info.path
        width = empty_width(self.length_policy, self.max_len, self.min_len)
        import onnxruntime as ort

        quiet = ort.RunOptions()
        quiet.log_severity_level = 4  # the out-of-range probes fail on purpose: no error lines

        def accepts(token_id: int) -> bool:
            row = np.zeros((1, width), dtype=self._input_dtype)
            row[0, 0] = token_id
            try:
                self.session.run([OUTPUT_NAME], {INPUT_NAME: row}, quiet)
            except Exception:  # onnxruntime: "indices element out of data bounds"
                return False
            return True

        n = len(self.vocab)
        if not accepts(n - 1):
            raise BundleError(
                f"bundle {path}: vocab.txt has {n} entries but the model's embedding rejects id {n - 1}: "
                f"vocab.txt does not belong to model.onnx; export the bundle again"
            )
        top = int(np.iinfo(self._input_dtype).max)
        if accepts(n) and not accepts(top):  # a bounded table larger than the vocabulary: find its size
            low, high = n, top  # accepts(low), not accepts(high)
            while high - low > 1:
                mid = (low + high) // 2
                low, high = (mid, high) if accepts(mid) else (low, mid)
            raise BundleError(
                f"bundle {path}: the model's embedding has {high} rows but vocab.txt has {n} entries: "
                f"vocab.txt does not belong to model.onnx; export the bundle again"
            )
        empty = self.empty_score
        if empty.shape != (len(self.labels),) or not np.isfinite(empty).all():
            raise BundleError(
                f"bundle {path}: the model gives {empty.shape[-1] if empty.ndim else 0} outputs per document "
                f"({'finite' if np.isfinite(empty).all() else 'not finite'}) but bundle.json lists "
                f"{len(self.labels)} labels ({', '.join(self.labels)})"
            )

    def _check_session(self) -> None:
        path = self.info.model_path
        inputs = self.session.get_inputs()
        outputs = {o.name: o for o in self.session.get_outputs()}
        if len(inputs) != 1 or inputs[0].name != INPUT_NAME:
            names = ", ".join(i.name for i in inputs)
            raise BundleError(f"{path}: the model's inputs are ({names}); expected one input named {INPUT_NAME!r}")
        if OUTPUT_NAME not in outputs:
            raise BundleError(f"{path}: the model has no output named {OUTPUT_NAME!r} (outputs: {', '.join(outputs)})")
        inp = inputs[0]
        if inp.type not in _ORT_INT_TYPES:
            raise BundleError(f"{path}: input {INPUT_NAME!r} has type {inp.type}; expected tensor(int32)")
        self._input_dtype = _ORT_INT_TYPES[inp.type]
        shape = list(inp.shape)
        if len(shape) != 2:
            raise BundleError(f"{path}: input {INPUT_NAME!r} has shape {shape}; expected [batch, length]")
        length = shape[1]
        if isinstance(length, int):
            if self.length_policy == "dynamic":
                raise BundleError(
                    f"{path}: bundle.json says length_policy 'dynamic' but the model's input length is fixed at {length}"
                )
            if length != self.max_len:
                raise BundleError(f"{path}: the model's input length is {length} but bundle.json says max_len {self.max_len}")
        out_shape = list(outputs[OUTPUT_NAME].shape)
        if out_shape and isinstance(out_shape[-1], int) and out_shape[-1] != len(self.labels):
            raise BundleError(
                f"{path}: the model has {out_shape[-1]} outputs per document but bundle.json lists "
                f"{len(self.labels)} labels ({', '.join(self.labels)})"
            )

    # -- the entries: texts or Docs, and model ids --------------------------------------
    def encode(self, inputs: Sequence[Any]) -> list[Sequence[int]]:
        """Model ids of each input (a ``str`` or a spaCy ``Doc``), n-grams as at training, cut to ``max_len``.

        Docs go through :class:`toolkit.serving.doc_encoding.DocEncoder` when the
        tokenizer declares ``whitespace_separable`` (``nltk`` does): the same ids as
        tokenizing ``doc.text``, from the tokens' cached strings. Any other tokenizer
        gets each input as it is (a spaCy-based one uses a ``Doc``'s tokens).
        """
        if isinstance(inputs, str):
            raise TypeError("expected a list of texts or Docs, got a single str; wrap it in a list")
        inputs = list(inputs)
        if inputs and can_encode_docs(self.tokenizer) and all(_is_doc(doc) for doc in inputs):
            with self._doc_lock:
                if self._doc_encoder is None:
                    self._doc_encoder = DocEncoder(self.tokenizer, self.vocab)
                ids = self._doc_encoder.encode(inputs)
        else:
            ids = self.vocab.encode_many([self.tokenizer(item) for item in inputs])
        return [seq[: self.max_len] for seq in ids]

    def score(self, inputs: Sequence[Any], batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
        """Probabilities [n, n_labels] (float32, input order, label order) of texts or spaCy ``Doc`` objects."""
        return self.score_ids(self.encode(inputs), batch_size=batch_size)

    def score_ids(
        self,
        id_lists: Sequence[Sequence[int]],
        batch_size: int = DEFAULT_BATCH_SIZE,
        progress: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """Probabilities [n, n_labels] of documents given as model ids (what :meth:`encode` returns).

        Batched by :func:`toolkit.core.batching.score_batches`, the one batching routine: ids
        beyond ``max_len`` are dropped and an empty document gets :attr:`empty_score`.
        """
        id_lists = list(id_lists)
        if not id_lists:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        return score_batches(
            id_lists, self._run, policy=self.length_policy, max_len=self.max_len, min_len=self.min_len,
            batch_size=batch_size, dtype=self._input_dtype, progress=progress,
        )

    def predict(self, texts: Sequence[str] | str, batch_size: int = DEFAULT_BATCH_SIZE) -> list[dict[str, Any]]:
        """Label and probabilities of each text (a single str gives a list of one): :meth:`score` as records."""
        if isinstance(texts, str):
            texts = [texts]
        return self.to_records(self.score(texts, batch_size=batch_size))

    def _run(self, batch: np.ndarray) -> np.ndarray:
        """The model's probabilities for one padded batch, calibrated (:mod:`toolkit.core.calibration`)."""
        probs = self.session.run([OUTPUT_NAME], {INPUT_NAME: batch})[0]
        if not self.calibration.active:
            return probs
        return self.calibration.apply(probs, (batch != 0).sum(axis=1) if self.calibration.needs_lengths else None)

    @property
    def empty_score(self) -> np.ndarray:
        """Probabilities given to a document with no tokens (one all-padding row), [n_labels]."""
        if self._empty_score is None:
            self._empty_score = self.score_ids([[]])[0]
        return self._empty_score

    # -- outputs ---------------------------------------------------------------------------
    def label_of(self, probs: np.ndarray) -> list[str]:
        return [self.labels[i] for i in np.argmax(probs, axis=1)]

    def decide(self, probs: np.ndarray) -> np.ndarray:
        """bool [n, n_labels]: which labels a multi-label bundle predicts (probability >= threshold)."""
        if self.thresholds is None:
            raise BundleError(f"bundle {self.info.path} is exclusive: it predicts its top label, not labels over "
                              f"thresholds")
        return np.asarray(probs) >= self.thresholds

    def to_records(self, probs: np.ndarray) -> list[dict[str, Any]]:
        """``[{"label": ..., "probabilities": {label: p}}]`` for a score array; a multi-label bundle's records
        are ``{"labels": [the labels over their thresholds, in label order], "probabilities": {label: p}}``."""
        labels = self.labels
        if self.multi_label:
            chosen = self.decide(probs)
            return [{"labels": [lab for lab, on in zip(labels, row_on) if on],
                     "probabilities": {lab: float(p) for lab, p in zip(labels, row)}}
                    for row, row_on in zip(probs, chosen)]
        return [
            {"label": labels[int(np.argmax(row))], "probabilities": {lab: float(p) for lab, p in zip(labels, row)}}
            for row in probs
        ]

    def __repr__(self) -> str:
        return (
            f"Runtime({str(self.info.path)!r}, labels={self.labels}, tokenizer={self.info.tokenizer['name']!r}, "
            f"length_policy={self.length_policy!r}, max_len={self.max_len})"
        )


__all__ = ["DEFAULT_BATCH_SIZE", "Runtime", "open_session"]
