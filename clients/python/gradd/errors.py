"""GraddError: a request gradd refused, or one that got no answer."""

from __future__ import annotations

from typing import Optional


class GraddError(Exception):
    """A request gradd refused or that did not reach it.

    status: the HTTP status (400, 401, 413, 415, 422, 503, 504, ...), or 0
        when no response came (then code is "unreachable" or "timeout").
    code: gradd's machine-readable code ("shape_mismatch", ...).
    path: the JSON pointer to the part of the request at fault ("" for all).
    message: gradd's sentence.
    retry_after: seconds from a 503's Retry-After header, else None.
    """

    def __init__(self, status: int, code: str, path: str, message: str,
                 retry_after: Optional[float] = None) -> None:
        super().__init__("%s (%s %s at %r)" % (message, status, code, path))
        self.status = status
        self.code = code
        self.path = path
        self.message = message
        self.retry_after = retry_after
