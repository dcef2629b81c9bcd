"""Azure's caps on block blobs, and the rules every store enforces with them.

Documented by Azure (Blob service error codes, Put Block / Put Block List):

- a block list names at most 50,000 blocks (400 ``BlockListTooLong``);
- a blob has at most 100,000 uncommitted blocks (409 ``BlockCountExceedsLimit``);
- a block blob is at most 50,000 blocks of 4000 MiB (about 190.7 TiB);
- uncommitted blocks are garbage-collected a week after the blob's last
  successful Put Block when no Put Block List followed.

openvod adds one rule to keep a tiny request from making a huge blob out of
one staged block: a block may appear only once in a block list (400
``InvalidBlockList``), so a committed blob is never larger than the blocks
the client uploaded. ``max_blob_bytes`` may lower Azure's size cap.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from openvod.clock import utcnow
from openvod.errors import ConflictError, InvalidRequestError

MIB = 1024 * 1024
MAX_BLOCKS_IN_LIST = 50_000
MAX_UNCOMMITTED_BLOCKS = 100_000
MAX_BLOCK_BYTES = 4000 * MIB
MAX_BLOB_BYTES = MAX_BLOCKS_IN_LIST * MAX_BLOCK_BYTES  # 190.7 TiB
BLOCK_EXPIRY_SECONDS = 7 * 24 * 3600.0


@dataclass(frozen=True)
class StoreLimits:
    """The caps a store applies to block uploads; ``clock`` (UTC) decides block expiry."""

    max_blob_bytes: int = MAX_BLOB_BYTES
    block_expiry_seconds: float = BLOCK_EXPIRY_SECONDS
    clock: Callable[[], datetime] = field(default=utcnow)

    def expired(self, last_write_seconds: float) -> bool:
        """Whether uncommitted blocks last written at ``last_write_seconds`` (epoch) are gone."""
        return self.clock().timestamp() - last_write_seconds > self.block_expiry_seconds


def check_block_list(block_ids: Sequence[str]) -> None:
    """Refuse a block list that is too long or names a block more than once."""
    if len(block_ids) > MAX_BLOCKS_IN_LIST:
        raise InvalidRequestError(
            f"The block list may not contain more than {MAX_BLOCKS_IN_LIST:,} blocks.",
            code="BlockListTooLong",
        )
    repeated = [block_id for block_id, count in Counter(block_ids).items() if count > 1]
    if repeated:
        raise InvalidRequestError(
            f"The specified block list is invalid: block {repeated[0]!r} is listed more than "
            "once (each block may appear only once).",
            code="InvalidBlockList",
        )


def check_blob_size(size_bytes: int, limits: StoreLimits) -> None:
    """Refuse a block list whose blob would exceed the store's size cap."""
    if size_bytes > limits.max_blob_bytes:
        raise InvalidRequestError(
            f"The specified block list is invalid: the blob would be {size_bytes} bytes, "
            f"more than the {limits.max_blob_bytes} bytes allowed.",
            code="InvalidBlockList",
        )


def too_many_uncommitted() -> ConflictError:
    """The error of a Put Block beyond Azure's uncommitted block cap."""
    return ConflictError(
        f"The uncommitted block count cannot exceed the maximum limit of "
        f"{MAX_UNCOMMITTED_BLOCKS:,} blocks.",
        code="BlockCountExceedsLimit",
    )
