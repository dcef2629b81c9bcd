"""In-video search: the entries a finished indexing job stores, and queries over them.

The database does the full-text matching (SQLite FTS5, PostgreSQL ``tsvector`` with
the ``simple`` configuration: no stemming and no stop words on either, so both find
the same rows); ranking and match times are computed here, the same way for both.
A query is words and ``"quoted phrases"``; every one of them must occur in an entry.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session

from openvod.db.search_models import SearchEntry
from openvod.errors import InvalidRequestError

if TYPE_CHECKING:
    from openvod.indexing import IndexResult


MAX_QUERY_CHARS = 500
MAX_TERMS = 16
MAX_ROWS = 2000  # matching entries read per query
_TOKEN = re.compile(r"\w+")
_KIND_WEIGHT = {"Keyword": 3.0, "Transcript": 1.0}


@dataclass(frozen=True)
class SearchMatch:
    """One place an asset matches: its times in milliseconds, kind and text."""

    kind: str
    text: str
    start_ms: int
    end_ms: int


@dataclass(frozen=True)
class AssetMatches:
    """The matches of one asset, best assets first; ``source_asset_name`` is the job input."""

    asset_name: str
    source_asset_name: str | None
    score: float
    matches: tuple[SearchMatch, ...]


def tokens(value: str) -> list[str]:
    """The lower-cased word tokens of a text, as both full-text engines split it."""
    return _TOKEN.findall(value.lower())


def parse_query(query: str) -> list[list[str]]:
    """Terms of a query: each quoted phrase and each bare word, as token lists."""
    if len(query) > MAX_QUERY_CHARS:
        raise InvalidRequestError(f"The query is longer than {MAX_QUERY_CHARS} characters.")
    terms: list[list[str]] = []
    for index, part in enumerate(query.split('"')):
        if index % 2 == 1:  # inside quotes: one phrase
            phrase = tokens(part)
            if phrase:
                terms.append(phrase)
        else:
            terms.extend([t] for t in tokens(part))
    if not terms:
        raise InvalidRequestError("The query needs at least one word, e.g. query=video or "
                                  'query="open video".')
    if len(terms) > MAX_TERMS:
        raise InvalidRequestError(f"The query has more than {MAX_TERMS} words and phrases.")
    return terms


def record(session: Session, account_id: int, asset_name: str, source_asset_name: str | None,
           result: IndexResult) -> int:
    """Replace an asset's entries with what an indexing run found; the number stored."""
    forget(session, account_id, asset_name)
    rows: list[SearchEntry] = []
    for segment in result.segments:
        words = [[token, _ms(w.start_seconds), _ms(w.end_seconds)]
                 for w in segment.words for token in tokens(w.text)]
        rows.append(_entry(account_id, asset_name, source_asset_name, "Transcript",
                           segment.text.strip(), segment.start_seconds, segment.end_seconds,
                           words))
    for keyword in result.keywords:
        for start, end in keyword.instances:
            rows.append(_entry(account_id, asset_name, source_asset_name, "Keyword",
                               keyword.text, start, end, []))
    session.add_all(rows)
    session.flush()
    if session.get_bind().dialect.name != "postgresql":
        for row in rows:
            session.execute(text("INSERT INTO search_fts(rowid, text) VALUES (:id, :text)"),
                            {"id": row.id, "text": row.text})
    return len(rows)


def forget(session: Session, account_id: int, asset_name: str) -> None:
    """Remove an asset's entries (and their full-text rows)."""
    where = (SearchEntry.account_id == account_id) & (SearchEntry.asset_key == asset_name.lower())
    if session.get_bind().dialect.name != "postgresql":
        for row_id, row_text in session.execute(select(SearchEntry.id, SearchEntry.text)
                                                .where(where)):
            session.execute(text("INSERT INTO search_fts(search_fts, rowid, text) "
                                 "VALUES ('delete', :id, :text)"), {"id": row_id, "text": row_text})
    session.execute(delete(SearchEntry).where(where))


def search(session: Session, account_id: int, query: str,
           limit: int = 50) -> list[AssetMatches]:
    """The assets of an account matching ``query``, best first, each with its matches in
    time order. InvalidRequestError for an empty or oversized query."""
    terms = parse_query(query)
    rows = _matching_rows(session, account_id, terms)
    by_asset: dict[str, list[SearchEntry]] = {}
    for row in rows:
        by_asset.setdefault(row.asset_key, []).append(row)
    results = [_asset_matches(entries, terms) for entries in by_asset.values()]
    results.sort(key=lambda r: (-r.score, r.asset_name.lower()))
    return results[:limit]


def _matching_rows(session: Session, account_id: int,
                   terms: list[list[str]]) -> Sequence[SearchEntry]:
    if session.get_bind().dialect.name == "postgresql":
        params: dict[str, Any] = {f"p{i}": " ".join(t) for i, t in enumerate(terms)}
        tsquery = " && ".join(f"phraseto_tsquery('simple', :p{i})" for i in range(len(terms)))
        ids = text(f"SELECT id FROM search_entries WHERE account_id = :account "
                   f"AND text_tsv @@ ({tsquery}) LIMIT {MAX_ROWS}")
    else:
        params = {"q": " ".join('"' + " ".join(t) + '"' for t in terms)}
        ids = text("SELECT search_fts.rowid FROM search_fts JOIN search_entries e "
                   "ON e.id = search_fts.rowid WHERE search_fts MATCH :q "
                   f"AND e.account_id = :account LIMIT {MAX_ROWS}")
    params["account"] = account_id
    found = [row_id for (row_id,) in session.execute(ids, params)]
    if not found:
        return []
    return session.scalars(select(SearchEntry).where(SearchEntry.id.in_(found))).all()


def _asset_matches(entries: list[SearchEntry], terms: list[list[str]]) -> AssetMatches:
    matches = sorted((_match(e, terms) for e in entries), key=lambda m: (m.start_ms, m.kind))
    score = sum(_KIND_WEIGHT.get(e.kind, 1.0) for e in entries)
    first = entries[0]
    return AssetMatches(first.asset_name, first.source_asset_name, score, tuple(matches))


def _match(entry: SearchEntry, terms: list[list[str]]) -> SearchMatch:
    """The match, narrowed to the words of the first term when the entry has word times."""
    words = entry.words or []
    needle = terms[0]
    spoken = [w[0] for w in words]
    for at in range(len(spoken) - len(needle) + 1):
        if spoken[at:at + len(needle)] == needle:
            start_ms, end_ms = int(words[at][1]), int(words[at + len(needle) - 1][2])
            return SearchMatch(entry.kind, entry.text, start_ms, end_ms)
    return SearchMatch(entry.kind, entry.text, entry.start_ms, entry.end_ms)


def _entry(account_id: int, asset_name: str, source_asset_name: str | None, kind: str,
           entry_text: str, start_seconds: float, end_seconds: float,
           words: list[list[Any]]) -> SearchEntry:
    return SearchEntry(account_id=account_id, asset_name=asset_name, asset_key=asset_name.lower(),
                       source_asset_name=source_asset_name, kind=kind, text=entry_text,
                       start_ms=_ms(start_seconds), end_ms=_ms(end_seconds), words=words)


def _ms(seconds: float) -> int:
    return max(0, round(seconds * 1000))


def clock(ms: int) -> str:
    """``HH:MM:SS.fff`` as Video Indexer's search answers give times."""
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}"
