"""The per-title decision of the content-aware presets. Pure.

``ContentAwareEncoding``, ``ContentAwareEncodingExperimental`` and
``H265ContentAwareEncoding`` first measure how hard the source is to compress
(:mod:`.analysis` encodes a few sampled seconds at 360 lines with x264
``veryfast`` at CRF 23, a fixed quality, and counts the bits it needed per
pixel per frame). The decision rule, applied to the AdaptiveStreaming ladder
(same heights, widths and caps):

- ``factor = clamp(sqrt(bpp / REFERENCE_BPP), 0.3, 1.25)``: the bits a
  rung gets relative to AMS's reference ladder. A still picture needs few
  bits at a given quality (factor 0.3), noise or fast motion needs many
  (up to 1.25); ``REFERENCE_BPP`` is what typical camera footage needs.
- every rung's bitrate is multiplied by ``factor`` (still capped by the
  source's bitrate and ``maxBitrateBps``), and rungs under the floor
  (``minBitrateBps``, at least 100 kbps) are dropped;
- the number of rungs is capped by the factor: at most 2 for easy content
  (factor < 0.5), 4 below 0.9, otherwise all; ``maxLayers`` caps further.

So a static source gets fewer, cheaper rungs than a noisy one of the same
size. The configurations' ``maxHeight``/``minHeight`` bound the heights as
for AdaptiveStreaming.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

REFERENCE_BPP = 0.08  # bits/pixel/frame at CRF 23, 360 lines, of ordinary camera footage
MIN_FACTOR = 0.3
MAX_FACTOR = 1.25
EASY_FACTOR = 0.5  # below this: at most EASY_LAYERS rungs
EASY_LAYERS = 2
MEDIUM_FACTOR = 0.9  # below this: at most MEDIUM_LAYERS rungs
MEDIUM_LAYERS = 4


@dataclass(frozen=True)
class LadderShape:
    """What the measurement decides: a bitrate multiplier and a rung cap (None: no cap)."""

    bitrate_factor: float
    max_layers: int | None


def decide_ladder(bits_per_pixel: float, max_layers: int | None) -> LadderShape:
    """The ladder shape for a source needing ``bits_per_pixel`` at the probe's fixed quality."""
    ratio = max(bits_per_pixel, 0.0) / REFERENCE_BPP
    factor = min(MAX_FACTOR, max(MIN_FACTOR, math.sqrt(ratio)))
    if factor < EASY_FACTOR:
        cap: int | None = EASY_LAYERS
    elif factor < MEDIUM_FACTOR:
        cap = MEDIUM_LAYERS
    else:
        cap = None
    if max_layers:
        cap = max_layers if cap is None else min(cap, max_layers)
    return LadderShape(round(factor, 3), cap)
