"""Entity tags (RFC 9110 section 8.8.3): parsing, lists, ``*`` and the two comparisons.

Strong comparison (If-Match, If-Range): both tags strong and their opaque
parts equal. Weak comparison (If-None-Match): the opaque parts equal, weak or
not. RFC 9110's table::

    ETag 1   ETag 2   strong   weak
    W/"1"    W/"1"    no       yes
    W/"1"    W/"2"    no       no
    W/"1"    "1"      no       yes
    "1"      "1"      yes      yes

An unquoted tag (``If-Match: 0x8D...``, which Azure tolerates) is read as if
it were quoted. List members that are not tags are skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_TAGS = 256  # more members than this in one list: the rest are not read
_TAG = r'(?:(W/)?"([^"]*)"|([^\s,"]+))'
_ONE = re.compile(r"\s*" + _TAG + r"\s*")
_MEMBER = re.compile(r"\s*" + _TAG + r"\s*(?:,|$)")


@dataclass(frozen=True)
class EntityTag:
    """One entity tag: its opaque part (without quotes) and whether it is weak."""

    opaque: str
    weak: bool = False

    def __str__(self) -> str:
        return f'{"W/" if self.weak else ""}"{self.opaque}"'


@dataclass(frozen=True)
class TagList:
    """An If-Match / If-None-Match value: ``*`` (any current representation) or tags."""

    tags: tuple[EntityTag, ...] = ()
    any: bool = False


def strong_match(a: EntityTag, b: EntityTag) -> bool:
    """RFC 9110 strong comparison: neither weak, same opaque part."""
    return not a.weak and not b.weak and a.opaque == b.opaque


def weak_match(a: EntityTag, b: EntityTag) -> bool:
    """RFC 9110 weak comparison: same opaque part, weakness ignored."""
    return a.opaque == b.opaque


def parse_etag(value: str | bytes | None) -> EntityTag | None:
    """One entity tag (``"x"``, ``W/"x"`` or a bare token), None if ``value`` is not one."""
    if value is None:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    match = _ONE.fullmatch(text)
    if match is None:
        return None
    weak, quoted, bare = match.groups()
    return EntityTag(quoted if quoted is not None else bare, weak is not None)


def parse_tag_list(value: str | bytes) -> TagList:
    """The members of an If-Match or If-None-Match value (``*`` alone means any)."""
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    if text.strip() == "*":
        return TagList(any=True)
    tags: list[EntityTag] = []
    position = 0
    while position < len(text) and len(tags) < MAX_TAGS:
        match = _MEMBER.match(text, position)
        if match is None:  # not a tag: skip to the next comma
            comma = text.find(",", position)
            if comma < 0:
                break
            position = comma + 1
            continue
        weak, quoted, bare = match.groups()
        tags.append(EntityTag(quoted if quoted is not None else bare, weak is not None))
        position = match.end()
    return TagList(tuple(tags))


def list_matches(listed: TagList, current: EntityTag | None, *, weak: bool) -> bool:
    """Whether ``listed`` names ``current`` (None: there is no current representation)."""
    if current is None:
        return False
    if listed.any:
        return True
    compare = weak_match if weak else strong_match
    return any(compare(tag, current) for tag in listed.tags)


__all__ = [
    "EntityTag",
    "TagList",
    "list_matches",
    "parse_etag",
    "parse_tag_list",
    "strong_match",
    "weak_match",
]
