"""Which bundle a ``review_sentiment`` component uses, and the check it passes before use.

``model = ""`` means the shipped default (``toolkit/serving/models/default``),
``null`` none yet (``from_disk`` / ``from_bytes`` fill it), anything else a
bundle folder. :func:`load_checked` checks the whole bundle (checksums, id,
tokenizer, cross-checks) when the component is created, so a damaged bundle is
refused at ``nlp.add_pipe`` and not at the first document.
"""

from __future__ import annotations

import os
from pathlib import Path

from toolkit.core.errors import BundleError, ToolkitError
from toolkit.core.bundle import BUNDLE_JSON

FACTORY = "review_sentiment"
#: Where the shipped default bundle lives (``model = ""``).
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "models" / "default"
#: The Makefile target that rebuilds the shipped default (named in error messages).
DEFAULT_MODEL_TARGET = "make default-model"


def default_model_path() -> Path:
    """The folder of the shipped default bundle (it may not exist in a source checkout)."""
    return DEFAULT_MODEL_DIR


def describe_pipe(name: str) -> str:
    """How messages name a component: ``review_sentiment`` or ``'mine' (review_sentiment)``."""
    return f"component {name!r}" if name == FACTORY else f"component {name!r} ({FACTORY})"


def missing_default_message(name: str) -> str:
    return (
        f"{describe_pipe(name)}: config 'model' is empty, which means the shipped default model, "
        f"but it is missing: no {BUNDLE_JSON} in {DEFAULT_MODEL_DIR}. Reinstall toolkit, build the default "
        f"with `{DEFAULT_MODEL_TARGET}` in a source checkout, or give a bundle written by `toolkit export`: "
        f'nlp.add_pipe("{FACTORY}", config={{"model": "path/to/bundle"}})'
    )


def resolve_model(model: str | os.PathLike | None, name: str = FACTORY) -> Path | None:
    """The bundle folder a ``model`` setting names: ``""`` -> the shipped default, ``None`` -> none.

    Raises:
        BundleError: the folder does not exist, naming the path and the component.
    """
    if model is None:
        return None
    if not isinstance(model, (str, os.PathLike)):
        raise BundleError(
            f"{describe_pipe(name)}: config 'model' must be a path to a bundle folder, "
            f"\"\" for the shipped default or null, got {model!r}"
        )
    if str(model) == "":
        if not (DEFAULT_MODEL_DIR / BUNDLE_JSON).is_file():
            raise BundleError(missing_default_message(name))
        return DEFAULT_MODEL_DIR
    path = Path(model).expanduser()
    if not path.exists():
        raise BundleError(
            f"{describe_pipe(name)}: config 'model' names the bundle {str(model)!r} "
            f"(resolved: {path.absolute()}), which does not exist. Give the folder written by "
            f"`toolkit export`, or \"\" for the shipped default model. (Loading a pipeline saved with "
            f"nlp.to_disk, which carries its own copy of the bundle? Pass "
            f"spacy.load(path, config={{\"components.{name}.model\": None}}).)"
        )
    return path


def load_checked(path: Path, name: str, threads: int | None):
    """The runtime of the bundle in ``path``, after checking all of it: bundle.json and its bundle id,
    every file's size and sha256, the tokenizer, and the cross-checks of
    :meth:`toolkit.serving.runtime.Runtime.load` (vocabulary vs the model's embedding, labels vs
    its outputs). Done when the component is created (``nlp.add_pipe``) or a bundle is loaded
    into it, so a damaged bundle is refused there and not at the first document. Every failure
    is a one-line :class:`BundleError` naming the component."""
    from toolkit.serving.runtime import Runtime

    try:
        return Runtime.load(path, threads=threads or None, verify=True)
    except ToolkitError as exc:
        raise BundleError(f"{describe_pipe(name)}: {exc.message}") from exc
    except (Exception, SystemExit) as exc:  # the error boundary: no library traceback (nor exit) at add_pipe
        raise BundleError(f"{describe_pipe(name)}: bundle {path} cannot be loaded: {type(exc).__name__}: "
                          f"{' '.join(str(exc).split())[:300]}") from exc
