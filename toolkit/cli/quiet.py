"""Keep TensorFlow's start-up noise off the terminal.

TensorFlow 2.21 writes its absl/oneDNN/CPU-feature lines from native code
before its logging is set up, so neither ``TF_CPP_MIN_LOG_LEVEL`` nor Python
logging can hide them: only the process's file descriptor 2 can. The training
commands call :func:`import_tensorflow` before anything imports TensorFlow; it
imports TensorFlow and Keras with fd 2 pointed at a temporary file, then puts
fd 2 back. What TensorFlow wrote is replayed only if the import failed, or when
the user asked for it (``--verbose`` on the command, or ``TOOLKIT_VERBOSE=1``).
Later messages of level INFO and WARNING are dropped by ``TF_CPP_MIN_LOG_LEVEL=2``.
"""

from __future__ import annotations

import os
import sys
import tempfile

ENV_VERBOSE = "TOOLKIT_VERBOSE"


def verbose() -> bool:
    return os.environ.get(ENV_VERBOSE, "").strip().lower() in ("1", "true", "yes")


def import_tensorflow(show: bool | None = None) -> None:
    """Import TensorFlow and Keras now, with their native start-up lines hidden unless ``show``."""
    if "tensorflow" in sys.modules:
        return
    show = verbose() if show is None else show
    if show:
        import keras  # noqa: F401
        import tensorflow  # noqa: F401

        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        failed = True
        try:
            import keras  # noqa: F401
            import tensorflow  # noqa: F401

            failed = False
        except ImportError:
            pass  # the command reports the missing extra itself, with the lines below
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            if failed:
                sink.seek(0)
                sys.stderr.write(sink.read().decode("utf-8", "replace"))
