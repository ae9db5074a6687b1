"""Shared fixtures. No third-party plugin loads unless a test asks for one."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# The shared helpers (model_factory, spacy_helpers, boundary) live beside this file.
sys.path.insert(0, str(Path(__file__).resolve().parent))

# Locally installed plugins must not change test results.
os.environ["TOOLKIT_LOAD_PLUGINS"] = ""

REPO = Path(__file__).resolve().parents[1]

# Hypothesis: bounded examples in `make test` ("ci"), 10,000 per property in `make fuzz` ("fuzz").
try:
    from hypothesis import HealthCheck, settings

    _quiet_checks = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large]
    settings.register_profile("ci", max_examples=50, deadline=None, suppress_health_check=_quiet_checks)
    settings.register_profile("fuzz", max_examples=10_000, deadline=None, suppress_health_check=_quiet_checks)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
except ImportError:  # hypothesis is in the dev extra; the property tests skip without it
    pass


def polarity_dir() -> Path:
    env = os.environ.get("TOOLKIT_POLARITY_DIR")
    base = Path(env) if env else REPO.parent / "shared" / "data" / "review_polarity"
    return base / "txt_sentoken" if (base / "txt_sentoken").is_dir() else base


@pytest.fixture(scope="session")
def polarity_path() -> Path:
    """The polarity corpus (txt_sentoken). Missing: a failure under CI, a skip elsewhere."""
    path = polarity_dir()
    if not (path / "pos").is_dir() or not (path / "neg").is_dir():
        message = f"polarity corpus not found at {path}; set TOOLKIT_POLARITY_DIR"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def _shared_corpus(env: str, folder: str) -> Path:
    value = os.environ.get(env)
    return Path(value) if value else REPO.parent / "shared" / "data" / folder


def _require(path: Path, needed: tuple[str, ...], env: str, what: str) -> Path:
    """``path`` when it holds ``needed``; else a failure under CI, a skip elsewhere."""
    if not all((path / name).exists() for name in needed):
        message = f"{what} not found at {path}; set {env}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def mr_path() -> Path:
    """The MR sentence polarity corpus (rt-polarity.pos / .neg). Missing: a failure under CI, a skip elsewhere."""
    return _require(_shared_corpus("TOOLKIT_MR_DIR", "rt-polaritydata"), ("rt-polarity.pos", "rt-polarity.neg"),
                    "TOOLKIT_MR_DIR", "MR corpus")


@pytest.fixture(scope="session")
def multi_domain_path() -> Path:
    """The multi-domain reviews (books, dvd, electronics, kitchen). Missing: a failure under CI, a skip elsewhere."""
    needed = tuple(f"{d}/{f}" for d in ("books", "dvd", "electronics", "kitchen")
                   for f in ("positive.review", "negative.review"))
    return _require(_shared_corpus("TOOLKIT_MULTI_DOMAIN_DIR", "multi_domain"), needed, "TOOLKIT_MULTI_DOMAIN_DIR",
                    "multi-domain corpus")


@pytest.fixture(autouse=True)
def _fresh_registry():
    """Each test sees the registry as loaded from scratch, and leaves nothing behind."""
    from toolkit.core import registry

    registry.reset()
    try:
        yield
    finally:
        registry.reset()
