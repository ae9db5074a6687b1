"""The ``toolkit`` command line: thin Typer commands over plain functions."""

from toolkit.cli.app import app, main

__all__ = ["app", "main"]
