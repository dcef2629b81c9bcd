"""Conditional headers on the blob endpoint: RFC 9110's verdict in Azure's error shapes.

The evaluation is :func:`openvod.httpkit.conditionals.evaluate`; this module is
the one place its outcome becomes an Azure answer: 304 or 412
``ConditionNotMet``, and 409 ``BlobAlreadyExists`` for a write with
``If-None-Match: *`` on a blob that exists. As Azure Storage does,
If-Modified-Since also guards writes (412).
"""

from __future__ import annotations

from starlette.datastructures import Headers

from openvod.blob.errors import BlobServiceError
from openvod.httpkit.conditionals import Outcome, Preconditions, Validators, Verdict, evaluate
from openvod.storage.store import BlobInfo


def _failed() -> BlobServiceError:
    return BlobServiceError(
        412,
        "ConditionNotMet",
        "The condition specified using HTTP conditional header(s) is not met.",
    )


def check_conditions(headers: Headers, info: BlobInfo | None, *, write: bool) -> Verdict:
    """The verdict (it says whether a Range may apply); raises for 304, 412 and 409.

    ``info`` is the blob as it is now, None if it does not exist.
    """
    conditions = Preconditions.from_headers(headers)
    current = None if info is None else Validators(info.etag, info.last_modified)
    verdict = evaluate(
        conditions, current, method="PUT" if write else "GET", modified_since_on_writes=True
    )
    if verdict.outcome is Outcome.NOT_MODIFIED:
        raise BlobServiceError(304, "ConditionNotMet", "Not modified.")
    if verdict.outcome is Outcome.FAILED:
        any_blob = (conditions.if_none_match or "").strip() == "*"
        if write and verdict.decided_by == "if-none-match" and any_blob:
            raise BlobServiceError(409, "BlobAlreadyExists", "The specified blob already exists.")
        raise _failed()
    return verdict
