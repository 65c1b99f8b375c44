"""cnop.auth."""

from cnop.auth.__about__ import __version__

__all__ = ["__version__"]
