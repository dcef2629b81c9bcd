"""Analyzer presets (``AudioAnalyzerPreset``, ``VideoAnalyzerPreset``) as azure-mgmt-media
10.2.1 serializes them: the transform outputs that index speech instead of encoding."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from openvod.resources.base import ArmModel
from openvod.resources.odata import canonical_case, odata_field, refusal

AudioAnalysisModeName = Literal["Standard", "Basic"]
InsightsName = Literal["AudioInsightsOnly", "VideoInsightsOnly", "AllInsights"]
AudioAnalysisMode = Annotated[AudioAnalysisModeName, canonical_case(AudioAnalysisModeName)]


def _audio_insights_only(value: str) -> str:
    if value != "AudioInsightsOnly":
        raise refusal(
            f"must be AudioInsightsOnly, got {value!r}: openvod extracts audio insights only "
            "(transcript, captions, keywords); there is no video analysis"
        )
    return value


Insights = Annotated[
    InsightsName, canonical_case(InsightsName), AfterValidator(_audio_insights_only)
]
AudioLanguage = Annotated[
    str, Field(max_length=35, pattern=r"^[A-Za-z]{2,8}([-_][A-Za-z0-9]{1,8})*$")
]


class AudioAnalyzerPreset(ArmModel):
    """``#Microsoft.Media.AudioAnalyzerPreset``: speech to captions, transcript and keywords.

    ``audioLanguage`` is a BCP 47 tag (None: en-US; openvod does not detect the
    language). ``mode`` Basic and Standard give the same outputs here (Basic in AMS
    was transcript and captions only; keywords are cheap, so both produce them).
    """

    odata_type: Literal["#Microsoft.Media.AudioAnalyzerPreset"] = odata_field()
    audio_language: AudioLanguage | None = None
    mode: AudioAnalysisMode | None = None
    experimental_options: dict[str, str] | None = None  # accepted, as AMS did, and not used


class VideoAnalyzerPreset(ArmModel):
    """``#Microsoft.Media.VideoAnalyzerPreset`` limited to ``insightsToExtract:
    AudioInsightsOnly``: the same job as :class:`AudioAnalyzerPreset`."""

    odata_type: Literal["#Microsoft.Media.VideoAnalyzerPreset"] = odata_field()
    audio_language: AudioLanguage | None = None
    mode: AudioAnalysisMode | None = None
    experimental_options: dict[str, str] | None = None
    insights_to_extract: Insights | None = Field(
        default=None, description="must be AudioInsightsOnly (openvod has no video insights)")

    @model_validator(mode="after")
    def _audio_only(self) -> VideoAnalyzerPreset:
        # AMS defaulted to AllInsights; openvod has only audio insights, so it must be said.
        if self.insights_to_extract is None:
            raise refusal("needs insightsToExtract: AudioInsightsOnly (openvod extracts audio "
                          "insights only)")
        return self


AnalyzerPreset = AudioAnalyzerPreset | VideoAnalyzerPreset
