"""Byte ranges (RFC 9110 section 14): ``bytes=`` range sets, spans and Content-Range.

A range set is parsed without knowing the size (:func:`parse_range_set`),
then resolved against it (:meth:`RangeSpec.resolve`). :func:`select_span`
makes the one decision servers need, in one of two modes:

- lenient (a ``Range`` header, RFC 9110): a header that does not parse, names
  another unit or asks for several ranges is ignored (the whole representation,
  200); one range that misses the representation is unsatisfiable (416);
- strict (Azure's ``x-ms-range``): a header that does not parse or asks for
  several ranges is malformed (400); unsatisfiable is 416 as above.

Absurd input never raises: a header over :data:`MAX_HEADER_CHARS` or with more
than :data:`MAX_RANGES` ranges does not parse (RFC 9110 lets a server ignore
or reject such a header), and a number longer than :data:`MAX_DIGITS` digits
stands for "past any size": a first position that far is unsatisfiable, a
last position or suffix length that far means "to the end" (as the RFC reads
any over-long last position or suffix).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import NamedTuple

MAX_HEADER_CHARS = 8192
MAX_RANGES = 64
MAX_DIGITS = 18
BEYOND = 10**MAX_DIGITS  # any number with more digits: larger than any representation
_SPEC = re.compile(r"\s*([0-9]*)\s*-\s*([0-9]*)\s*")


class ByteSpan(NamedTuple):
    """``length`` bytes from offset ``start`` (a resolved, satisfiable range).

    A named tuple: the origin makes one per request, and tuples are cheap.
    """

    start: int
    length: int

    @property
    def last(self) -> int:
        """The offset of the last byte (inclusive, as Content-Range writes it)."""
        return self.start + self.length - 1


@dataclass(frozen=True)
class RangeSpec:
    """One range-spec: ``first-last``, ``first-`` (last None) or ``-suffix`` (first None)."""

    first: int | None
    last: int | None

    def resolve(self, size_bytes: int) -> ByteSpan | None:
        """The span this range selects of ``size_bytes`` bytes; None if unsatisfiable.

        Any range of an empty representation is unsatisfiable (there is no
        Content-Range for zero bytes), as is a zero-length suffix.
        """
        if size_bytes <= 0:
            return None
        if self.first is None:  # the last N bytes
            suffix = self.last or 0
            if suffix == 0:
                return None
            length = min(suffix, size_bytes)
            return ByteSpan(size_bytes - length, length)
        if self.first >= size_bytes:
            return None
        last = size_bytes - 1 if self.last is None else min(self.last, size_bytes - 1)
        return ByteSpan(self.first, last - self.first + 1)


class RangeProblem(enum.Enum):
    """Why :func:`select_span` gives no span."""

    IGNORED = "ignored"  # send the whole representation (200)
    MALFORMED = "malformed"  # strict mode only: refuse the request (400)
    UNSATISFIABLE = "unsatisfiable"  # 416 with ``Content-Range: bytes */size``


def _number(digits: str) -> int:
    """The value of a digit string, :data:`BEYOND` if it has too many digits."""
    significant = digits.lstrip("0")
    return BEYOND if len(significant) > MAX_DIGITS else int(significant or "0")


def parse_range_set(value: str | bytes) -> tuple[RangeSpec, ...] | None:
    """The range-specs of a ``bytes=`` header; None if it is not a valid bytes range set.

    Invalid: another unit, a spec that is neither ``a-b``, ``a-`` nor ``-n``,
    ``a-b`` with b < a, no spec at all, or over the size and count caps.
    """
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    if len(text) > MAX_HEADER_CHARS:
        return None
    unit, equals, specs_text = text.partition("=")
    if not equals or unit.strip().lower() != "bytes":
        return None
    members = [member for member in specs_text.split(",") if member.strip()]
    if not members or len(members) > MAX_RANGES:
        return None
    specs: list[RangeSpec] = []
    for member in members:
        match = _SPEC.fullmatch(member)
        if match is None or match.group(1) == match.group(2) == "":
            return None
        first_text, last_text = match.groups()
        first = _number(first_text) if first_text else None
        last = _number(last_text) if last_text else None
        if first is not None and last is not None and last < first:
            return None
        specs.append(RangeSpec(first, last))
    return tuple(specs)


def select_span(
    value: str | bytes, size_bytes: int, *, strict: bool = False
) -> ByteSpan | RangeProblem:
    """The one span a range header asks of ``size_bytes`` bytes, or why there is none.

    See the module docstring for the lenient (``Range``) and strict
    (``x-ms-range``) modes. Several ranges are not served as multipart: the
    lenient mode ignores them, the strict mode refuses them.
    """
    specs = parse_range_set(value)
    if specs is None or len(specs) != 1:
        return RangeProblem.MALFORMED if strict else RangeProblem.IGNORED
    span = specs[0].resolve(size_bytes)
    return RangeProblem.UNSATISFIABLE if span is None else span


def content_range(span: ByteSpan, size_bytes: int) -> str:
    """The Content-Range value of a 206: ``bytes first-last/size``."""
    return f"bytes {span.start}-{span.last}/{size_bytes}"


def unsatisfied_range(size_bytes: int) -> str:
    """The Content-Range value of a 416: ``bytes */size``."""
    return f"bytes */{size_bytes}"


__all__ = [
    "BEYOND",
    "MAX_DIGITS",
    "MAX_HEADER_CHARS",
    "MAX_RANGES",
    "ByteSpan",
    "RangeProblem",
    "RangeSpec",
    "content_range",
    "parse_range_set",
    "select_span",
    "unsatisfied_range",
]
