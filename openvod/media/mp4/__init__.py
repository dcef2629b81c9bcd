"""ISO BMFF (MP4) reading and fragmented-MP4 writing, over bytes only.

- :mod:`.boxes`: box headers, the :class:`Box` model, the fourcc registry,
  container boxes; :mod:`.movie_boxes`, :mod:`.table_boxes` and
  :mod:`.fragment_boxes` hold one dataclass per box the origin reads or writes;
  :mod:`.protection_boxes` the Common Encryption boxes (sinf, tenc, senc, pssh, ...).
- :mod:`.reader`: :func:`locate_moov` (tells the caller what to read) and
  :func:`parse_movie` ('moov' bytes to a :class:`~openvod.media.track.Movie`).
- :mod:`.writer`: CMAF init segments and fragment plans.
"""

from __future__ import annotations

from openvod.media.mp4 import (  # noqa: F401 (register)
    fragment_boxes,
    movie_boxes,
    protection_boxes,
    table_boxes,
)
from openvod.media.mp4.boxes import BOX_TYPES, Box, BoxHeader, FullBox, RawBox, parse_boxes
from openvod.media.mp4.reader import (
    MoovLocation,
    NeedBytes,
    locate_moov,
    parse_movie,
    read_brands,
)
from openvod.media.mp4.writer import (
    FragmentPlan,
    build_fragment,
    build_init_segment,
    plan_fragment,
)

__all__ = [
    "BOX_TYPES",
    "Box",
    "BoxHeader",
    "FragmentPlan",
    "FullBox",
    "MoovLocation",
    "NeedBytes",
    "RawBox",
    "build_fragment",
    "build_init_segment",
    "locate_moov",
    "parse_boxes",
    "parse_movie",
    "plan_fragment",
    "read_brands",
]
