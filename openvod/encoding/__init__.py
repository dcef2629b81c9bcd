"""The encoder: AMS transform presets → one ffmpeg run → an adaptive-bitrate MP4 set + ``.ism``.

Public surface::

    parse_preset(preset_json) -> Preset          # validate stored JSON, read it for the encoder
    encode(inputs, preset_json, output_dir, basename=...) -> list[Path]
    InputFile(path, start_seconds=None, end_seconds=None)
"""

from __future__ import annotations

from openvod.encoding.presets import BuiltInPreset, Preset, StandardPreset, parse_preset
from openvod.encoding.runner import encode
from openvod.encoding.source import InputFile

__all__ = ["BuiltInPreset", "InputFile", "Preset", "StandardPreset", "encode", "parse_preset"]
