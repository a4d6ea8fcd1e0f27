"""The `hardhouse` command: thin click commands over the library (see hardhouse.cli.main)."""

from hardhouse.cli.main import main

__all__ = ["main"]
