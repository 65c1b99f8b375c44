"""cnop.locking."""

from cnop.locking.__about__ import __version__

__all__ = ["__version__"]
