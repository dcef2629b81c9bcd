"""Transform, preset and job models: SDK round trips, 400s naming the field, one duration."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.media import AzureMediaServices
from azure.mgmt.media import models as ams
from azure.mgmt.media._serialization import Serializer

from openvod.encoding.builtin import SUPPORTED_NAMES, SourceAnalysis, expand_builtin
from openvod.encoding.presets import BuiltInPreset, parse_preset
from openvod.errors import InvalidRequestError
from openvod.resources.base import parse
from openvod.resources.jobs import Job
from openvod.resources.transforms import Transform
from openvod.worker.inputs import resolve_inputs
from tests.conftest import ACCOUNT, RESOURCE_GROUP, ServerHandle
from tests.test_api_sdk import sdk_client

RG, ACC = RESOURCE_GROUP, ACCOUNT
NS = "#Microsoft.Media."
SERIALIZER = Serializer({k: v for k, v in vars(ams).items() if isinstance(v, type)})


def sdk_json(model: Any, kind: str) -> dict[str, Any]:
    """The request body the SDK sends for ``model``."""
    body: dict[str, Any] = SERIALIZER.body(model, kind)
    return body


def every_standard_preset() -> ams.StandardEncoderPreset:
    """A StandardEncoderPreset using every codec, layer, format and filter openvod runs."""
    return ams.StandardEncoderPreset(
        codecs=[
            ams.H264Video(
                label="video", key_frame_interval=timedelta(seconds=2), stretch_mode="AutoFit",
                sync_mode="Cfr", complexity="Quality", rate_control_mode="CRF",
                scene_change_detection=False,
                layers=[
                    ams.H264Layer(
                        bitrate=3_600_000, max_bitrate=4_000_000, width="1280", height="720",
                        label="HD", b_frames=3, frame_rate="30000/1001", slices=0,
                        adaptive_b_frame=True, profile="High", level="3.1",
                        buffer_window=timedelta(seconds=5), crf=23.5, reference_frames=3,
                        entropy_mode="Cabac",
                    ),
                    ams.H264Layer(bitrate=600_000, width="50%", height="50%", label="SD"),
                ],
            ),
            ams.AacAudio(label="audio", channels=2, sampling_rate=48000, bitrate=128000,
                         profile="AacLc"),
            ams.PngImage(label="png", start="{Best}", step="25%", range="80%",
                         stretch_mode="AutoSize", key_frame_interval=timedelta(seconds=1),
                         layers=[ams.PngLayer(width="50%", height="50%", label="half")]),
            ams.JpgImage(start="PT5S", step="PT10S", range="100%", sprite_column=4,
                         layers=[ams.JpgLayer(width="160", height="90", label="tile",
                                              quality=90)]),
        ],
        formats=[
            ams.Mp4Format(filename_pattern="Video-{Basename}-{Label}-{Bitrate}{Extension}",
                          output_files=[ams.OutputFile(labels=["HD", "audio"]),
                                        ams.OutputFile(labels=["SD", "audio"])]),
            ams.TransportStreamFormat(filename_pattern="{Basename}_{Label}{Extension}",
                                      output_files=[ams.OutputFile(labels=["SD", "audio"])]),
            ams.PngFormat(filename_pattern="Thumbnail-{Basename}-{Index}{Extension}"),
            ams.JpgFormat(filename_pattern="Sprite-{Basename}-{Index}{Extension}"),
        ],
        filters=ams.Filters(
            deinterlace=ams.Deinterlace(parity="TopFieldFirst", mode="AutoPixelAdaptive"),
            rotation="Rotate90",
            crop=ams.Rectangle(left="0", top="10%", width="50%", height="360"),
            fade_in=ams.Fade(duration=timedelta(seconds=1), fade_color="rgb(255, 0, 0)",
                             start="PT0S"),
            fade_out=ams.Fade(duration=timedelta(seconds=2), fade_color="black"),
        ),
        experimental_options={"x264": "yes"},
    )


def copy_preset() -> ams.StandardEncoderPreset:
    return ams.StandardEncoderPreset(
        codecs=[ams.CopyVideo(label="v"), ams.CopyAudio(label="a")],
        formats=[ams.Mp4Format(filename_pattern="{Basename}{Extension}")],
    )


def builtin_preset() -> ams.BuiltInStandardEncoderPreset:
    return ams.BuiltInStandardEncoderPreset(
        preset_name="AdaptiveStreaming",
        configurations=ams.PresetConfigurations(
            complexity="Speed", interleave_output="NonInterleavedOutput",
            key_frame_interval_in_seconds=2.0, max_bitrate_bps=6_000_000, max_height=1080,
            max_layers=4, min_bitrate_bps=200_000, min_height=180,
        ),
    )


def every_transform() -> ams.Transform:
    outputs = [
        ams.TransformOutput(preset=preset, on_error=on_error, relative_priority=priority)
        for preset, on_error, priority in (
            (every_standard_preset(), "StopProcessingJob", "High"),
            (copy_preset(), "ContinueJob", "Low"),
            (builtin_preset(), "StopProcessingJob", "Normal"),
        )
    ]
    return ams.Transform(description="every preset openvod runs", outputs=outputs)


def every_job() -> ams.Job:
    clip = ams.AbsoluteClipTime
    inputs = ams.JobInputs(inputs=[
        ams.JobInputAsset(asset_name="in", files=["movie.mp4"], label="main",
                          start=clip(time=timedelta(seconds=5)),
                          end=clip(time=timedelta(minutes=1, seconds=30.5))),
        ams.JobInputHttp(base_uri="https://media.example/path/", files=["a.mp4", "b.mp4"],
                         label="web", start=clip(time=timedelta(seconds=0))),
    ])
    return ams.Job(
        description="a job", input=inputs, priority="High",
        correlation_data={"customer": "c-1", "order": "42"},
        outputs=[
            ams.JobOutputAsset(asset_name="out", label="first"),
            ams.JobOutputAsset(asset_name="out2", preset_override=every_standard_preset()),
            ams.JobOutputAsset(asset_name="out3", preset_override=builtin_preset()),
        ],
    )


# --- round trips ------------------------------------------------------------------------


def test_every_transform_type_round_trips_through_the_sdk_serializer() -> None:
    sent = sdk_json(every_transform(), "Transform")
    assert parse(Transform, sent).to_json() == sent


@pytest.mark.parametrize("job_input", [
    ams.JobInputAsset(asset_name="in"),
    ams.JobInputHttp(base_uri="https://media.example/movie.mp4"),
    every_job().input,
])
def test_every_job_input_round_trips(job_input: Any) -> None:
    job = ams.Job(input=job_input, outputs=[ams.JobOutputAsset(asset_name="out")])
    sent = sdk_json(job, "Job")
    assert parse(Job, sent).to_json() == sent


def test_every_job_field_round_trips() -> None:
    sent = sdk_json(every_job(), "Job")
    assert parse(Job, sent).to_json() == sent


def test_parsed_presets_read_the_same_for_the_encoder() -> None:
    preset = sdk_json(every_transform(), "Transform")["properties"]["outputs"][0]["preset"]
    assert parse_preset(preset) == parse_preset(json.loads(json.dumps(preset)))


@pytest.mark.parametrize("name", SUPPORTED_NAMES)
def test_every_builtin_name_the_model_accepts_expands(name: str) -> None:
    body = {"@odata.type": NS + "BuiltInStandardEncoderPreset", "presetName": name.lower()}
    preset = parse_preset(body)
    assert isinstance(preset, BuiltInPreset) and preset.name == name
    analysis = SourceAnalysis(bits_per_pixel=0.05, key_frame_times=(0.0, 2.0))
    expanded = expand_builtin(preset, width=1280, height=720, frame_rate=Fraction(25),
                              video_bitrate_bps=None, analysis=analysis)
    assert expanded.codecs and expanded.formats


# --- field paths without a server -----------------------------------------------------


def job_body(**props: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "input": {"@odata.type": NS + "JobInputAsset", "assetName": "in"},
        "outputs": [{"@odata.type": NS + "JobOutputAsset", "assetName": "out"}],
    }
    return {"properties": {**base, **props}}


@pytest.mark.parametrize(("props", "where"), [
    ({"priority": ["High"]}, "'properties.priority'"),
    ({"priority": "Urgent"}, "'properties.priority'"),
    ({"correlationData": {"a": 1}}, "'properties.correlationData.a'"),
    ({"input": {"@odata.type": NS + "JobInputHttp", "baseUri": 5}},
     "'properties.input.baseUri'"),
    ({"input": {"@odata.type": NS + "JobInputSequence", "inputs": []}},
     "'properties.input.inputs' list should have at least 1 item"),
    ({"input": {"@odata.type": NS + "JobInputSequence", "inputs": [
        {"@odata.type": NS + "JobInputSequence", "inputs": []}]}},
     "'properties.input.inputs[0].@odata.type' may not nest a JobInputSequence"),
    ({"input": {"@odata.type": NS + "JobInputClip", "files": ["a.mp4"]}},
     "'properties.input.@odata.type' #Microsoft.Media.JobInputClip is abstract"),
    ({"input": {"@odata.type": NS + "JobInputs", "inputs": [
        {"@odata.type": NS + "JobInputs", "inputs": []}]}},
     "'properties.input.inputs[0].@odata.type' may not nest JobInputs"),
    ({"input": {"@odata.type": NS + "JobInputAsset", "assetName": "in",
                "start": {"@odata.type": NS + "UtcClipTime", "time": "2024-01-01T00:00:00Z"}}},
     "'properties.input.start.@odata.type' #Microsoft.Media.UtcClipTime is not supported"),
    ({"input": {"@odata.type": NS + "JobInputAsset", "assetName": "in",
                "end": {"@odata.type": NS + "AbsoluteClipTime", "time": "soon"}}},
     "'properties.input.end.time' 'soon' is not an ISO 8601 duration"),
    ({"outputs": [{"@odata.type": NS + "JobOutputAsset", "assetName": "o",
                   "presetOverride": "x"}]}, "'properties.outputs[0].presetOverride'"),
    ({"outputs": [{"@odata.type": NS + "JobOutputAsset", "assetName": "o", "presetOverride": {
        "@odata.type": NS + "AudioAnalyzerPreset"}}]},
     "'properties.outputs[0].presetOverride.@odata.type' #Microsoft.Media.AudioAnalyzerPreset"
     " is not an encoding preset"),
])
def test_bad_job_fields_are_named(props: dict[str, Any], where: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        parse(Job, job_body(**props))
    assert where in caught.value.message


# --- through the SDK and the real server ------------------------------------------------


@pytest.fixture(scope="module")
def client(server: ServerHandle) -> Iterator[AzureMediaServices]:
    sdk = sdk_client(server)
    sdk.mediaservices.begin_create_or_update(RG, ACC, ams.MediaService(location="local")).result()
    for name in ("in", "out", "out2", "out3"):
        sdk.assets.create_or_update(RG, ACC, name, ams.Asset())
    yield sdk


def raw(body: dict[str, Any]) -> bytes:
    """A body the SDK sends as is (its models would not let a wrong type through)."""
    return json.dumps(body).encode()


def assert_bad_request(info: pytest.ExceptionInfo[HttpResponseError], where: str) -> None:
    assert info.value.status_code == 400
    assert info.value.error is not None and info.value.error.code == "BadRequest"
    assert where in info.value.error.message, info.value.error.message


def test_sdk_transform_round_trips_through_the_server(client: AzureMediaServices) -> None:
    sent = every_transform()
    stored = client.transforms.create_or_update(RG, ACC, "every", sent)
    assert sdk_json(stored, "Transform") == sdk_json(sent, "Transform")
    got = client.transforms.get(RG, ACC, "every")
    assert sdk_json(got, "Transform") == sdk_json(sent, "Transform")


def test_sdk_negative_layer_bitrate_is_a_400(client: AzureMediaServices) -> None:
    preset = ams.StandardEncoderPreset(
        codecs=[ams.AacAudio(), ams.H264Video(layers=[ams.H264Layer(bitrate=-1)])],
        formats=[ams.Mp4Format(filename_pattern="{Basename}{Extension}")],
    )
    with pytest.raises(HttpResponseError) as info:
        client.transforms.create_or_update(
            RG, ACC, "neg", ams.Transform(outputs=[ams.TransformOutput(preset=preset)]))
    assert_bad_request(info, "'properties.outputs[0].preset.codecs[1].layers[0].bitrate'")


def test_sdk_bad_duration_is_a_400(client: AzureMediaServices) -> None:
    body = sdk_json(ams.Transform(outputs=[ams.TransformOutput(preset=copy_preset())]),
                    "Transform")
    body["properties"]["outputs"][0]["preset"]["codecs"] = [{
        "@odata.type": NS + "H264Video", "keyFrameInterval": "two seconds",
        "layers": [{"bitrate": 1_000_000}],
    }]
    with pytest.raises(HttpResponseError) as info:
        client.transforms.create_or_update(RG, ACC, "dur", raw(body))
    assert_bad_request(info, "'properties.outputs[0].preset.codecs[0].keyFrameInterval'")


@pytest.mark.parametrize(("props", "where"), [
    ({"priority": ["High"]}, "'properties.priority'"),
    ({"input": {"@odata.type": NS + "JobInputHttp", "baseUri": 5}},
     "'properties.input.baseUri'"),
    ({"outputs": [{"@odata.type": NS + "JobOutputAsset", "assetName": "out",
                   "presetOverride": "x"}]}, "'properties.outputs[0].presetOverride'"),
    ({"input": {"@odata.type": NS + "JobInputAsset", "assetName": "in",
                "start": {"@odata.type": NS + "AbsoluteClipTime", "time": "later"}}},
     "'properties.input.start.time'"),
])
def test_sdk_wrong_job_types_are_400s(
    client: AzureMediaServices, props: dict[str, Any], where: str
) -> None:
    client.transforms.create_or_update(
        RG, ACC, "copy", ams.Transform(outputs=[ams.TransformOutput(preset=copy_preset())]))
    with pytest.raises(HttpResponseError) as info:
        client.jobs.create(RG, ACC, "copy", "bad", raw(job_body(**props)))
    assert_bad_request(info, where)


@pytest.mark.parametrize("interval", ["pt2s", "PT2S"])
def test_lowercase_durations_are_accepted_everywhere(
    client: AzureMediaServices, interval: str, tmp_path: Path, server: ServerHandle
) -> None:
    preset = {"@odata.type": NS + "StandardEncoderPreset",
              "codecs": [{"@odata.type": NS + "H264Video", "keyFrameInterval": interval,
                          "layers": [{"bitrate": 1_000_000, "bufferWindow": interval}]}],
              "formats": [{"@odata.type": NS + "Mp4Format", "filenamePattern": "{Basename}.mp4"}],
              "filters": {"fadeIn": {"duration": interval, "fadeColor": "black"}}}
    name = "kfi-lower" if interval.islower() else "kfi-upper"  # names are case-insensitive
    body = {"properties": {"outputs": [{"preset": preset}]}}
    stored = client.transforms.create_or_update(RG, ACC, name, raw(body))
    assert stored.outputs[0].preset.codecs[0].key_frame_interval == timedelta(seconds=2)
    video = parse_preset(preset).codecs[0]  # type: ignore[union-attr]
    assert video.key_frame_interval_seconds == 2.0  # type: ignore[union-attr]
    assert video.layers[0].buffer_window_seconds == 2.0  # type: ignore[union-attr]
    clip = {"@odata.type": NS + "AbsoluteClipTime", "time": interval}
    job = client.jobs.create(RG, ACC, name, "clip", raw(job_body(
        input={"@odata.type": NS + "JobInputAsset", "assetName": "in", "start": clip})))
    assert job.input.start.time == timedelta(seconds=2)
    # Stored in the form the SDK's reader takes; the worker reads either form the same.
    with server.http() as http:
        doc = http.get(f"{server.account_path}/transforms/{name}/jobs/clip",
                       params={"api-version": "2022-08-01"}).json()
    assert doc["properties"]["input"]["start"]["time"] == "PT2S"
    assert stored.outputs[0].preset.filters.fade_in.duration == timedelta(seconds=2)
    asset = client.assets.get(RG, ACC, "in")
    server.ctx.store.put_blob(asset.container, "movie.mp4", b"not a movie")
    (local,) = resolve_inputs({**doc["properties"]["input"], "start": clip},
                              asset_container={"in": asset.container},
                              store=server.ctx.store, work_dir=tmp_path, allowed_hosts=[],
                              max_bytes=1 << 20)
    assert local.start_seconds == 2.0


def test_sdk_patch_job_with_the_whole_job(client: AzureMediaServices) -> None:
    client.transforms.create_or_update(
        RG, ACC, "copy", ams.Transform(outputs=[ams.TransformOutput(preset=copy_preset())]))
    job = client.jobs.create(RG, ACC, "copy", "patched", ams.Job(
        input=ams.JobInputAsset(asset_name="in"), outputs=[ams.JobOutputAsset(asset_name="out")]))
    job.description, job.priority = "changed", "High"
    updated = client.jobs.update(RG, ACC, "copy", "patched", job)
    assert (updated.description, updated.priority) == ("changed", "High")
    with pytest.raises(HttpResponseError) as info:
        client.jobs.update(RG, ACC, "copy", "patched", raw({"properties": {"priority": 1}}))
    assert_bad_request(info, "'properties.priority'")


def test_openapi_shows_transform_and_job_schemas(server: ServerHandle) -> None:
    with server.http() as http:
        document = http.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    assert schemas["H264Layer"]["properties"]["bitrate"]["minimum"] == 1000
    assert "@odata.type" in schemas["JobInputHttp"]["properties"]
    assert set(schemas["JobProperties"]["required"]) == {"input", "outputs"}
    put = next(ops["put"] for path, ops in document["paths"].items()
               if path.endswith("/transforms/{transform}/jobs/{name}"))
    body = put["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/Job"}
    put_transform = next(ops["put"] for path, ops in document["paths"].items()
                         if path.endswith("/transforms/{name}"))
    assert put_transform["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Transform"}
    for ref in references(document):  # every reference resolves, discriminator mappings too
        assert ref.startswith("#/components/schemas/") and ref.split("/")[-1] in schemas, ref


def references(node: Any) -> Iterator[str]:
    """Every ``$ref`` and discriminator mapping target in a JSON document."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            elif key == "mapping":
                yield from value.values()
            else:
                yield from references(value)
    elif isinstance(node, list):
        for item in node:
            yield from references(item)


def test_sdk_patch_transform_keeps_what_is_not_sent(client: AzureMediaServices) -> None:
    client.transforms.create_or_update(
        RG, ACC, "patchme", ams.Transform(outputs=[ams.TransformOutput(preset=copy_preset())]))
    updated = client.transforms.update(RG, ACC, "patchme", ams.Transform(description="new"))
    assert updated.description == "new"
    assert [o.preset.codecs[0].label for o in updated.outputs] == ["v"]
    with pytest.raises(HttpResponseError) as info:
        client.transforms.update(RG, ACC, "patchme", raw({"properties": {"outputs": []}}))
    assert_bad_request(info, "'properties.outputs'")


ODD_VALUES: list[Any] = [None, 0, -1, 2**70, 1.5, True, "x", "", "50%", "PT0S", [], {}, ["x"]]


def leaf_paths(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """The path of every value in a JSON document."""
    children = node.items() if isinstance(node, dict) else enumerate(node) \
        if isinstance(node, list) else ()
    for key, value in children:
        yield path + (key,)
        yield from leaf_paths(value, path + (key,))


def replaced(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    copy = json.loads(json.dumps(document))
    target = copy
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return copy


@pytest.mark.parametrize(("kind", "model"), [("Transform", Transform), ("Job", Job)])
def test_any_wrong_value_is_a_named_400_or_runs(kind: str, model: Any) -> None:
    sent = sdk_json(every_transform() if kind == "Transform" else every_job(), kind)
    for path in leaf_paths(sent):
        for value in ODD_VALUES:
            body = replaced(sent, path, value)
            try:
                parsed = parse(model, body)
            except InvalidRequestError as exc:
                assert exc.message.startswith("'properties"), (path, value, exc.message)
                continue
            # Whatever validates, the encoder can read.
            for out in parsed.to_json()["properties"]["outputs"]:
                preset = out.get("preset") or out.get("presetOverride")
                if preset is not None:
                    parse_preset(preset)
