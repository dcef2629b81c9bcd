"""Asset tracks (``AssetTrack`` with a ``TextTrack``) as azure-mgmt-media 10.2.1 sends them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field

from openvod.resources.base import ArmModel, ArmResource
from openvod.resources.odata import NS, check_odata_type, odata_field, refusal

VisibilityName = Literal["Visible", "Hidden"]
TEXT_SUFFIXES = (".vtt", ".ttml", ".xml", ".dfxp")


def _caption_file(name: str) -> str:
    if "/" in name or "\\" in name or not name.strip():
        raise refusal(f"must name a file at the top of the asset, got {name!r}")
    if not name.lower().endswith(TEXT_SUFFIXES):
        raise refusal(f"must name a WebVTT (.vtt) or TTML (.ttml) file, got {name!r}")
    return name


class HlsSettings(ArmModel):
    """``HlsSettings`` of a track: EXT-X-MEDIA's DEFAULT, FORCED and CHARACTERISTICS."""

    default: bool | None = None
    forced: bool | None = None
    characteristics: Annotated[str, Field(max_length=256)] | None = None


class TextTrack(ArmModel):
    """``#Microsoft.Media.TextTrack``: a caption file of the asset shown as a subtitle track.

    ``languageCode`` is read-only in the SDK (openvod takes it from the file: TTML's
    ``xml:lang``, else the asset's insights.json); a REST client may still send it.
    """

    odata_type: Literal["#Microsoft.Media.TextTrack"] = odata_field()
    file_name: Annotated[str, Field(max_length=260), AfterValidator(_caption_file)] | None = None
    display_name: Annotated[str, Field(max_length=256)] | None = None
    language_code: Annotated[str, Field(max_length=35)] | None = None
    player_visibility: VisibilityName | None = None
    hls_settings: HlsSettings | None = None


Track = Annotated[
    TextTrack,
    check_odata_type((NS + "TextTrack",), "track", {
        NS + kind: f"{NS}{kind} is not supported: openvod adds text tracks only"
        for kind in ("AudioTrack", "VideoTrack")
    }),
]  # fmt: skip


class AssetTrackProperties(ArmModel):
    """The ``properties`` of an AssetTrack PUT/PATCH."""

    track: Track | None = None
    provisioning_state: Any = Field(default=None, exclude=True)  # read-only, ignored


class AssetTrack(ArmResource):
    """An AssetTrack body: ``{"properties": {"track": {...}}}``."""

    properties: AssetTrackProperties = Field(default_factory=AssetTrackProperties)
