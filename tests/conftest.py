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


@pytest.fixture(autouse=True)
def _fresh_registry():
    """Each test sees the registry as loaded from scratch, and leaves nothing behind."""
    from toolkit.core import registry

    registry.reset()
    try:
        yield
    finally:
        registry.reset()
