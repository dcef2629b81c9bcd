"""The search index table: what a finished indexing job found, per asset.

One row per transcript entry (a sentence, with its words and their times) or
keyword instance. The full-text index over ``text`` is dialect-specific and made
by migration 0004: an FTS5 table ``search_fts`` (SQLite) or the generated
``text_tsv`` column with a GIN index (PostgreSQL); :mod:`openvod.services.search`
queries it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from openvod.db.models import Base


class SearchEntry(Base):
    """A searchable stretch of an indexed asset: ``kind`` is 'Transcript' or 'Keyword'."""

    __tablename__ = "search_entries"
    __table_args__ = (Index("ix_search_entries_asset", "account_id", "asset_key"),
                      {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    asset_name: Mapped[str] = mapped_column(String(260))
    asset_key: Mapped[str] = mapped_column(String(260))
    source_asset_name: Mapped[str | None] = mapped_column(String(260), nullable=True)
    kind: Mapped[str] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(Text)
    start_ms: Mapped[int] = mapped_column(Integer)
    end_ms: Mapped[int] = mapped_column(Integer)
    # [[token, start_ms, end_ms], ...]: the lower-cased word tokens of a transcript entry.
    words: Mapped[list[Any]] = mapped_column(JSON, default=list)
