"""MPEG-2 transport stream segments for HLS (``manifest(format=m3u8-aapl)``).

Pure: samples in, segment bytes out. See :mod:`openvod.media.ts.muxer` for
the choices about timestamps, continuity counters and PCR, and
:mod:`openvod.media.ts.plan` for segment plans, which rebuild a segment asked
for again from its sample data with a few array operations.
"""

from openvod.media.ts.muxer import (
    AUDIO_PID,
    DEFAULT_TIMESTAMP_OFFSET_90K,
    VIDEO_PID,
    TsStreamInfo,
    TsTrackInput,
    mux_ts_packets,
    mux_ts_segment,
    plan_and_mux_ts_segment,
    plan_ts_segment,
    ts_stream_infos,
)
from openvod.media.ts.plan import TsSegmentPlan, apply_ts_plan
from openvod.media.ts.psi import PMT_PID

__all__ = [
    "AUDIO_PID",
    "DEFAULT_TIMESTAMP_OFFSET_90K",
    "PMT_PID",
    "VIDEO_PID",
    "TsSegmentPlan",
    "TsStreamInfo",
    "TsTrackInput",
    "apply_ts_plan",
    "mux_ts_packets",
    "mux_ts_segment",
    "plan_and_mux_ts_segment",
    "plan_ts_segment",
    "ts_stream_infos",
]
