"""The ``type`` claim, apart from the claim models so that using it never loads pydantic."""

from __future__ import annotations

from enum import Enum


class TokenType(str, Enum):
    """The ``type`` claim: an access token opens APIs; a refresh token only gets new tokens."""

    ACCESS = "access"
    REFRESH = "refresh"
