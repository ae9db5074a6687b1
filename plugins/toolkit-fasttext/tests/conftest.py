"""The plugin's tests register it by hand, so they run the same whether or not
it is installed, and no other installed plugin changes their results."""

from __future__ import annotations

import os

import pytest

# Entry points (this plugin's included) load only where a test asks for them.
os.environ["TOOLKIT_LOAD_PLUGINS"] = ""
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture
def registered():
    """The plugin registered on a fresh registry; unregistered afterwards."""
    from toolkit.core import registry

    from toolkit_fasttext import __version__, plugin

    registry.reset()
    registry.register_plugin(plugin, name="fasttext", distribution="toolkit-fasttext", version=__version__)
    try:
        yield registry
    finally:
        registry.unregister_plugin("fasttext")
        registry.reset()
