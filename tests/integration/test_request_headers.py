"""The header names cnop-auth and cnop-logging read are the shared RequestHeader values."""

from __future__ import annotations

from cnop.auth import CONTEXT_HEADERS
from cnop.exceptions import RequestHeader
from cnop.logging import REQUEST_ID_HEADER


def test_request_headers_agree_with_the_packages_that_read_them() -> None:
    assert set(CONTEXT_HEADERS) <= {h.value for h in RequestHeader}
    assert REQUEST_ID_HEADER == RequestHeader.REQUEST_ID
