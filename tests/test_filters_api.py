"""Asset filters and account filters through azure-mgmt-media: CRUD, validation, cascade."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.media import AzureMediaServices
from azure.mgmt.media.models import (
    AccountFilter,
    Asset,
    AssetFilter,
    FilterTrackPropertyCondition,
    FilterTrackSelection,
    FirstQuality,
    MediaService,
    PresentationTimeRange,
)

from tests.conftest import RESOURCE_GROUP, ServerHandle
from tests.test_api_sdk import sdk_client

RG = RESOURCE_GROUP


@pytest.fixture(scope="module")
def ams(server: ServerHandle) -> Iterator[AzureMediaServices]:
    client = sdk_client(server)
    client.mediaservices.begin_create_or_update(RG, "filters", MediaService(location="local")
                                                ).result()
    client.assets.create_or_update(RG, "filters", "movie", Asset())
    yield client


def _time_range(start: int, end: int) -> PresentationTimeRange:
    return PresentationTimeRange(start_timestamp=start, end_timestamp=end, timescale=10_000_000,
                                 force_end_timestamp=False)


def _video_under(bps: int) -> list[FilterTrackSelection]:
    return [FilterTrackSelection(track_selections=[
        FilterTrackPropertyCondition(property="Type", value="Video", operation="Equal"),
        FilterTrackPropertyCondition(property="Bitrate", value=f"0-{bps}", operation="Equal"),
    ])]


def test_asset_filter_round_trip(ams: AzureMediaServices) -> None:
    sent = AssetFilter(presentation_time_range=_time_range(50_000_000, 150_000_000),
                       first_quality=FirstQuality(bitrate=250_000), tracks=_video_under(300_000))
    made = ams.asset_filters.create_or_update(RG, "filters", "movie", "middle", sent)
    assert made.name == "middle"
    assert made.id.endswith("/assets/movie/assetFilters/middle")
    got = ams.asset_filters.get(RG, "filters", "movie", "middle")
    assert got.presentation_time_range.start_timestamp == 50_000_000
    assert got.presentation_time_range.end_timestamp == 150_000_000
    assert got.first_quality.bitrate == 250_000
    condition = got.tracks[0].track_selections[1]
    assert (condition.property, condition.operation, condition.value) == \
        ("Bitrate", "Equal", "0-300000")
    patched = ams.asset_filters.update(RG, "filters", "movie", "middle",
                                       AssetFilter(first_quality=FirstQuality(bitrate=150_000)))
    assert patched.first_quality.bitrate == 150_000
    assert patched.presentation_time_range.end_timestamp == 150_000_000  # kept
    assert [f.name for f in ams.asset_filters.list(RG, "filters", "movie")] == ["middle"]
    ams.asset_filters.delete(RG, "filters", "movie", "middle")
    with pytest.raises(ResourceNotFoundError):
        ams.asset_filters.get(RG, "filters", "movie", "middle")
    assert list(ams.asset_filters.list(RG, "filters", "movie")) == []


def test_account_filter_round_trip(ams: AzureMediaServices) -> None:
    made = ams.account_filters.create_or_update(
        RG, "filters", "low", AccountFilter(tracks=_video_under(200_000)))
    assert made.id.endswith("/accountFilters/low")
    assert [f.name for f in ams.account_filters.list(RG, "filters")] == ["low"]
    replaced = ams.account_filters.create_or_update(
        RG, "filters", "low", AccountFilter(presentation_time_range=_time_range(0, 10**7)))
    assert replaced.tracks is None  # PUT replaces
    ams.account_filters.delete(RG, "filters", "low")
    with pytest.raises(ResourceNotFoundError):
        ams.account_filters.get(RG, "filters", "low")


@pytest.mark.parametrize("bad", [
    AssetFilter(presentation_time_range=_time_range(20, 10)),
    AssetFilter(tracks=[FilterTrackSelection(track_selections=[FilterTrackPropertyCondition(
        property="Type", value="subtitles", operation="Equal")])]),
    AssetFilter(tracks=[FilterTrackSelection(track_selections=[FilterTrackPropertyCondition(
        property="Bitrate", value="200-100", operation="Equal")])]),
    AssetFilter(tracks=[FilterTrackSelection(track_selections=[FilterTrackPropertyCondition(
        property="Language", value="en", operation="Contains")])]),
    AssetFilter(first_quality=FirstQuality(bitrate=0)),
])
def test_invalid_filters_are_refused(ams: AzureMediaServices, bad: AssetFilter) -> None:
    with pytest.raises(HttpResponseError) as raised:
        ams.asset_filters.create_or_update(RG, "filters", "movie", "bad", bad)
    assert raised.value.status_code == 400
    with pytest.raises(ResourceNotFoundError):
        ams.asset_filters.get(RG, "filters", "movie", "bad")


def test_filters_of_an_unknown_asset_and_cascade(ams: AzureMediaServices) -> None:
    with pytest.raises(ResourceNotFoundError):
        ams.asset_filters.create_or_update(RG, "filters", "nope", "f", AssetFilter())
    ams.assets.create_or_update(RG, "filters", "gone", Asset())
    ams.asset_filters.create_or_update(RG, "filters", "gone", "f",
                                       AssetFilter(first_quality=FirstQuality(bitrate=1)))
    ams.assets.delete(RG, "filters", "gone")
    ams.assets.create_or_update(RG, "filters", "gone", Asset())
    assert list(ams.asset_filters.list(RG, "filters", "gone")) == []
