"""Dynamic manifest filters at the origin: which filters a request names, and the asset they leave.

A publication carries the filters its asset and account define (read with
the locator, so no query per request) and the locator's own filter names. A
manifest or playlist request applies the locator's filters, then those its
``filter=`` modifier names; fragments are the same bytes filtered or not, so
they are served (and cached) as unfiltered ones once the names are known.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Any

from sqlalchemy.orm import Session

from openvod.errors import NotFoundError
from openvod.media.filters import Condition, ManifestFilter, apply_filters
from openvod.origin.assets import LoadedAsset
from openvod.resources.filters import DEFAULT_TIMESCALE, MediaFilterProperties
from openvod.services import filters as filter_service
from openvod.services.arm import AccountRef
from openvod.services.repository import list_resources


def manifest_filter(props: MediaFilterProperties) -> ManifestFilter:
    """The media-level filter of a stored AssetFilter/AccountFilter's properties."""
    window = props.presentation_time_range
    start = end = None
    if window is not None:
        scale = window.timescale or DEFAULT_TIMESCALE
        if window.start_timestamp is not None:
            start = window.start_timestamp / scale
        if window.end_timestamp is not None:
            end = window.end_timestamp / scale
    groups = tuple(
        tuple(Condition(c.property, c.value, c.operation == "Equal")  # type: ignore[arg-type]
              for c in selection.track_selections if c.property != "Unknown")
        for selection in props.tracks or ()
    )
    first = props.first_quality.bitrate if props.first_quality is not None else None
    return ManifestFilter(start, end, groups, first)


def load_filters(session: Session, account: AccountRef, asset: str) -> dict[str, ManifestFilter]:
    """Lower-cased name -> filter: the account's filters, overridden by the asset's."""
    found: dict[str, ManifestFilter] = {}
    for kind, parent in ((filter_service.ACCOUNT_KIND, ""), (filter_service.ASSET_KIND, asset)):
        for row in list_resources(session, account, kind, parent):
            props = MediaFilterProperties.model_validate(row.properties, strict=False)
            found[row.name_key] = manifest_filter(props)
    return found


def chosen_filters(defined: dict[str, ManifestFilter], locator_filters: tuple[str, ...],
                   requested: tuple[str, ...]) -> tuple[ManifestFilter, ...]:
    """The filters a request applies (the locator's, then the URL's); 404 for unknown names."""
    chosen = []
    for name in (*locator_filters, *requested):
        found = defined.get(name.lower())
        if found is None:
            raise NotFoundError("Unknown filter.")
        chosen.append(found)
    return tuple(chosen)


def filtered_asset(asset: LoadedAsset, chosen: tuple[ManifestFilter, ...]) -> LoadedAsset:
    """The asset as ``chosen`` leaves it: memoised per filter set on the asset.

    Its version folds in the filters, so manifests and their validators change
    when a filter does; it has its own memo (the same URL may be filtered by
    different locators).
    """
    if not chosen:
        return asset
    key: Any = ("filtered", chosen)
    cached = asset.memo.get(key)
    if cached is None:
        presentation = apply_filters(asset.presentation, chosen)
        digest = hashlib.blake2b(repr(chosen).encode(), digest_size=8).hexdigest()
        cached = replace(asset, presentation=presentation, version=f"{asset.version}|{digest}",
                         memo={})
        asset.memo[key] = cached
    return cached  # type: ignore[no-any-return]
