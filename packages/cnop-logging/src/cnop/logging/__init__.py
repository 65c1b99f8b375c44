"""cnop.logging."""

from cnop.logging.__about__ import __version__

__all__ = ["__version__"]
