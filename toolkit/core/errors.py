"""All toolkit errors and their messages, in one place.

Every error the user can cause is a :class:`ToolkitError` subclass whose message
says what was wrong, where (file, line, field or value) and, where there is one,
what to do about it. The CLI prints ``str(error)`` as one line and exits non-zero.
Messages carry a short code (``E012``) so they can be searched for, as in spaCy.
"""

from __future__ import annotations


class ToolkitError(Exception):
    """Base class of every error raised on purpose by toolkit."""

    code = "E000"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:  # one line, code first
        return f"[{self.code}] {self.message}"


class RegistryError(ToolkitError, LookupError):
    code = "E001"


class PluginLoadError(ToolkitError):
    code = "E002"


class ContractError(ToolkitError, TypeError):
    """A plugin's factory returned an object that breaks the component contract."""

    code = "E003"


class CorpusError(ToolkitError, ValueError):
    code = "E010"


class CorpusEncodingError(CorpusError):
    code = "E011"


class InputError(ToolkitError, ValueError):
    """Bad input to score: a file that cannot be read, a missing field, a value that is not text."""

    code = "E012"


class VocabError(ToolkitError, ValueError):
    code = "E020"


class EmbeddingError(ToolkitError, ValueError):
    code = "E030"


class ConfigError(ToolkitError, ValueError):
    code = "E040"


class TrainingError(ToolkitError, RuntimeError):
    code = "E050"


class OutputExistsError(ToolkitError, FileExistsError):
    code = "E051"


class ModelFolderError(ToolkitError, ValueError):
    """A trained-model folder that is missing, incomplete or damaged."""

    code = "E052"


class ExportError(ToolkitError, RuntimeError):
    code = "E060"


class BundleError(ToolkitError, ValueError):
    code = "E070"


class FetchError(ToolkitError, RuntimeError):
    code = "E080"


class ScoringError(ToolkitError, RuntimeError):
    """A scoring engine (local processes, Ray, Spark) failed while scoring a file."""

    code = "E090"


class OutputNotWritableError(ToolkitError, PermissionError):
    """An output path that cannot be written (a file where a folder must go, no permission, read-only)."""

    code = "E053"


class ClusterError(TrainingError, ScoringError):
    """A Ray cluster that cannot be used: not installed, an address that does not answer, too few CPUs."""

    code = "E091"
