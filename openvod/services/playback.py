"""Deep links into a published asset: a streaming URL with a Media Fragments time hint."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from openvod.clock import parse_iso, utcnow
from openvod.errors import OpenvodError
from openvod.services import locators
from openvod.services.arm import AccountRef
from openvod.storage.store import BlobStore

# Preferred manifest formats, best first: what most players open.
_PREFERRED = ("format=m3u8-cmaf", "format=m3u8-aapl", "format=mpd-time-cmaf", "format=mpd-time-csf")


def playback_url(session: Session, account: AccountRef, store: BlobStore, public_url: str,
                 asset_names: Sequence[str | None], start_ms: int) -> str | None:
    """The URL that plays the first of ``asset_names`` having a usable locator, from
    ``start_ms`` (``#t=SECONDS``, the W3C Media Fragments time hint); None when none has."""
    for asset_name in asset_names:
        if not asset_name:
            continue
        for row in locators.rows_for_asset(session, account, asset_name):
            path = _best_path(session, account, store, row.name, row.properties)
            if path is not None:
                return f"{public_url.rstrip('/')}{path}#t={start_ms / 1000:.3f}"
    return None


def _best_path(session: Session, account: AccountRef, store: BlobStore, name: str,
               props: dict[str, object]) -> str | None:
    end = props.get("endTime")
    if isinstance(end, str) and parse_iso(end) <= utcnow():
        return None  # expired locator
    try:
        answer = locators.paths(session, account, name, store)
    except OpenvodError:
        return None
    candidates = [p for sp in answer.streaming_paths for p in (sp.paths or [])
                  if "encryption=" not in p]  # a plain player cannot open those
    for wanted in _PREFERRED:
        for path in candidates:
            if wanted in path:
                return path
    return answer.download_paths[0] if answer.download_paths else None
