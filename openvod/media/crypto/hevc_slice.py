"""HEVC slice segment header sizes (ITU-T H.265 7.3.2.2, 7.3.2.3, 7.3.6), for subsample maps.

As for H.264 (:mod:`.avc_slice`), 'cbcs' keeps each slice segment header
clear; it ends with ``byte_alignment()``, so its size is exact. Only the SPS
and PPS fields the header's length depends on are kept. Range-extension
fields are honoured; screen-content and multi-layer extensions are not.
"""

from __future__ import annotations

from dataclasses import dataclass

from openvod.errors import MediaError
from openvod.media.crypto.rbsp import BitReader, measure_header

_B, _P = 0, 1
_HEADER_WINDOW = 48  # bytes of a slice NAL unit read at first (grown when longer)


@dataclass(frozen=True)
class _Rps:
    """A short-term reference picture set: how many pictures, how many used by the current."""

    delta_pocs: int
    used: int


@dataclass(frozen=True)
class HevcSps:
    """The SPS fields a slice segment header's length depends on."""

    sps_id: int
    separate_colour_plane: bool
    chroma_array_type: int
    pic_size_in_ctbs: int
    log2_max_poc_lsb: int
    short_term_rps: tuple[_Rps, ...]
    long_term_used: tuple[bool, ...] | None  # None: no long-term pictures
    temporal_mvp: bool
    sao: bool


@dataclass(frozen=True)
class HevcPps:
    """The PPS fields a slice segment header's length depends on."""

    pps_id: int
    sps_id: int
    dependent_slice_segments: bool
    output_flag_present: bool
    num_extra_slice_header_bits: int
    cabac_init_present: bool
    num_ref_idx_l0_default: int
    num_ref_idx_l1_default: int
    slice_chroma_qp_offsets_present: bool
    weighted_pred: bool
    weighted_bipred: bool
    entry_points: bool  # tiles or entropy coding sync
    loop_filter_across_slices: bool
    deblocking_override_enabled: bool
    deblocking_disabled: bool
    lists_modification_present: bool
    slice_header_extension_present: bool
    chroma_qp_offset_list: bool


def _skip_profile_tier_level(reader: BitReader, max_sub_layers_minus1: int) -> None:
    reader.bits(96)  # general profile, tier, flags and level
    present = [(reader.flag(), reader.flag()) for _ in range(max_sub_layers_minus1)]
    if max_sub_layers_minus1 > 0:
        reader.bits(2 * (8 - max_sub_layers_minus1))
    for profile, level in present:
        reader.bits(88 * profile + 8 * level)


def _skip_scaling_list_data(reader: BitReader) -> None:
    for size_id in range(4):
        for _ in range(0, 6, 3 if size_id == 3 else 1):
            if not reader.flag():
                reader.ue()
                continue
            if size_id > 1:
                reader.se()
            for _ in range(min(64, 1 << (4 + (size_id << 1)))):
                reader.se()


def _short_term_rps(
    reader: BitReader, index: int, sets: list[_Rps] | tuple[_Rps, ...], *, in_slice: bool = False
) -> _Rps:
    """Parse st_ref_pic_set(index); ``sets`` are the SPS's sets parsed before."""
    if index and reader.flag():  # inter_ref_pic_set_prediction_flag
        delta_idx = reader.ue() + 1 if in_slice else 1
        if delta_idx > index:
            raise MediaError("HEVC reference picture set predicted from a missing set")
        reader.flag()
        reader.ue()  # delta_rps_sign, abs_delta_rps_minus1
        kept = used = 0
        for _ in range(sets[index - delta_idx].delta_pocs + 1):
            if reader.flag():
                kept, used = kept + 1, used + 1
            elif reader.flag():
                kept += 1
        return _Rps(kept, used)
    negative, positive = reader.ue(), reader.ue()
    used = 0
    for _ in range(negative + positive):
        reader.ue()
        used += reader.flag()
    return _Rps(negative + positive, used)


def _skip_coding_tools(reader: BitReader) -> bool:
    """Transform sizes, scaling lists, AMP, SAO and PCM; returns the SAO flag."""
    for _ in range(4):
        reader.ue()  # transform block sizes and hierarchy depths
    if reader.flag() and reader.flag():
        _skip_scaling_list_data(reader)
    reader.flag()  # amp
    sao = reader.flag()
    if reader.flag():  # pcm
        reader.bits(8)
        reader.ue(), reader.ue(), reader.flag()
    return sao


def _long_term_pictures(reader: BitReader, log2_poc: int) -> tuple[bool, ...] | None:
    """The SPS's long-term reference pictures: whether each is used (None: not allowed)."""
    if not reader.flag():
        return None
    entries = []
    for _ in range(reader.ue()):
        reader.bits(log2_poc)
        entries.append(reader.flag())
    return tuple(entries)


def parse_sps(nal: bytes) -> HevcSps:
    """Parse an HEVC SPS NAL unit (two-byte NAL header included)."""
    reader = BitReader(nal[2:])
    try:
        reader.bits(4)
        max_sub_layers_minus1 = reader.bits(3)
        reader.flag()
        _skip_profile_tier_level(reader, max_sub_layers_minus1)
        sps_id, chroma = reader.ue(), reader.ue()
        separate = chroma == 3 and reader.flag()
        width, height = reader.ue(), reader.ue()
        if reader.flag():
            for _ in range(4):
                reader.ue()
        reader.ue(), reader.ue()  # bit depths
        log2_poc = reader.ue() + 4
        ordering_all = reader.flag()
        for _ in range(max_sub_layers_minus1 + 1 if ordering_all else 1):
            reader.ue(), reader.ue(), reader.ue()
        ctb = reader.ue() + 3 + reader.ue()  # log2 of the minimum coding block, plus the diff
        sao = _skip_coding_tools(reader)
        sets: list[_Rps] = []
        for index in range(reader.ue()):
            sets.append(_short_term_rps(reader, index, sets))
        long_term = _long_term_pictures(reader, log2_poc)
        temporal_mvp = reader.flag()
    except EOFError:
        raise MediaError("truncated HEVC SPS") from None
    size = 1 << ctb
    ctbs = -(-width // size) * -(-height // size)
    return HevcSps(sps_id, separate, 0 if separate else chroma, ctbs, log2_poc,
                   tuple(sets), long_term, temporal_mvp, sao)  # fmt: skip


def _skip_tiles(reader: BitReader) -> None:
    columns, rows = reader.ue() + 1, reader.ue() + 1
    if not reader.flag():  # uniform_spacing_flag
        for _ in range(columns + rows - 2):
            reader.ue()
    reader.flag()


def _deblocking_control(reader: BitReader) -> tuple[bool, bool]:
    """(deblocking_filter_override_enabled_flag, pps_deblocking_filter_disabled_flag)."""
    if not reader.flag():
        return False, False
    override, disabled = reader.flag(), reader.flag()
    if not disabled:
        reader.se(), reader.se()
    return override, disabled


def parse_pps(nal: bytes) -> HevcPps:
    """Parse an HEVC PPS NAL unit (two-byte NAL header included)."""
    reader = BitReader(nal[2:])
    try:
        pps_id, sps_id = reader.ue(), reader.ue()
        dependent, output_flag, extra_bits = reader.flag(), reader.flag(), reader.bits(3)
        reader.flag()  # sign_data_hiding
        cabac_init = reader.flag()
        l0, l1 = reader.ue() + 1, reader.ue() + 1
        reader.se()
        reader.flag()  # constrained_intra_pred
        transform_skip = reader.flag()
        if reader.flag():
            reader.ue()
        reader.se(), reader.se()
        chroma_offsets, weighted, bipred = reader.flag(), reader.flag(), reader.flag()
        reader.flag()  # transquant_bypass
        tiles, sync = reader.flag(), reader.flag()
        if tiles:
            _skip_tiles(reader)
        across_slices = reader.flag()
        override, disabled = _deblocking_control(reader)
        if reader.flag():
            _skip_scaling_list_data(reader)
        lists_modification = reader.flag()
        reader.ue()
        extension = reader.flag()
        offset_list = False
        if reader.flag() and reader.flag():  # pps_extension_present, pps_range_extension
            reader.bits(7)  # the other extension flags and pps_extension_4bits
            if transform_skip:
                reader.ue()
            reader.flag()
            offset_list = reader.flag()
    except EOFError:
        raise MediaError("truncated HEVC PPS") from None
    return HevcPps(pps_id, sps_id, dependent, output_flag, extra_bits, cabac_init, l0, l1,
                   chroma_offsets, weighted, bipred, tiles or sync, across_slices, override,
                   disabled, lists_modification, extension, offset_list)  # fmt: skip


class HevcSliceHeaderParser:
    """Measures HEVC slice segment headers, given the stream's SPS and PPS NAL units."""

    def __init__(self, sps: tuple[bytes, ...], pps: tuple[bytes, ...]) -> None:
        self._sps = {s.sps_id: s for s in map(parse_sps, sps)}
        self._pps = {p.pps_id: p for p in map(parse_pps, pps)}

    def add_parameter_set(self, nal: bytes) -> None:
        """Take an in-band SPS (type 33) or PPS (type 34) into account."""
        kind = (nal[0] >> 1) & 0x3F
        if kind == 33:
            sps = parse_sps(nal)
            self._sps[sps.sps_id] = sps
        elif kind == 34:
            pps = parse_pps(nal)
            self._pps[pps.pps_id] = pps

    def header_size(self, nal: bytes | memoryview) -> int:
        """Bytes of the slice segment header after the two-byte NAL unit header."""
        return measure_header(self._measure, nal, _HEADER_WINDOW, "HEVC slice segment header")

    def _measure(self, nal: bytes | memoryview, window: int) -> int:
        reader = BitReader(nal[2 : 2 + window])
        nal_type = (nal[0] >> 1) & 0x3F
        first_in_picture = reader.flag()
        if 16 <= nal_type <= 23:
            reader.flag()  # no_output_of_prior_pics_flag
        pps = self._pps.get(reader.ue())
        sps = self._sps.get(pps.sps_id) if pps is not None else None
        if pps is None or sps is None:
            raise MediaError("HEVC slice refers to a missing SPS or PPS")
        dependent = False
        if not first_in_picture:
            dependent = pps.dependent_slice_segments and reader.flag()
            reader.bits((sps.pic_size_in_ctbs - 1).bit_length())  # slice_segment_address
        if not dependent:
            _independent_fields(reader, nal_type, sps, pps)
        if pps.entry_points:
            count = reader.ue()
            if count:
                reader.bits((reader.ue() + 1) * count)
        if pps.slice_header_extension_present:
            reader.bits(8 * reader.ue())
        reader.bits(1)  # byte_alignment(): a one, then zeros up to the byte boundary
        reader.align()
        return reader.raw_bytes_read


def _independent_fields(reader: BitReader, nal_type: int, sps: HevcSps, pps: HevcPps) -> None:
    """The part of a slice segment header that dependent slice segments leave out."""
    reader.bits(pps.num_extra_slice_header_bits)
    slice_type = reader.ue()
    if pps.output_flag_present:
        reader.flag()
    if sps.separate_colour_plane:
        reader.bits(2)
    temporal_mvp, current_used = False, 0
    if nal_type not in (19, 20):  # not IDR
        current_used = _reference_pictures(reader, sps)
        temporal_mvp = sps.temporal_mvp and reader.flag()
    sao = False
    if sps.sao:
        sao = reader.flag()
        if sps.chroma_array_type:
            sao = reader.flag() or sao
    if slice_type in (_P, _B):
        _inter_fields(reader, slice_type, sps, pps, temporal_mvp, current_used)
    reader.se()  # slice_qp_delta
    if pps.slice_chroma_qp_offsets_present:
        reader.se(), reader.se()
    if pps.chroma_qp_offset_list:
        reader.flag()
    deblocking_disabled = pps.deblocking_disabled
    if pps.deblocking_override_enabled and reader.flag():
        deblocking_disabled = reader.flag()
        if not deblocking_disabled:
            reader.se(), reader.se()
    if pps.loop_filter_across_slices and (sao or not deblocking_disabled):
        reader.flag()


def _reference_pictures(reader: BitReader, sps: HevcSps) -> int:
    """POC LSB and the reference picture sets; returns how many pictures the current uses."""
    reader.bits(sps.log2_max_poc_lsb)
    sets = sps.short_term_rps
    if not reader.flag():  # short_term_ref_pic_set_sps_flag
        used = _short_term_rps(reader, len(sets), sets, in_slice=True).used
    else:
        index = reader.bits((len(sets) - 1).bit_length()) if len(sets) > 1 else 0
        if index >= len(sets):
            raise MediaError("HEVC slice refers to a missing reference picture set")
        used = sets[index].used
    if sps.long_term_used is not None:
        from_sps = reader.ue() if sps.long_term_used else 0
        for i in range(from_sps + reader.ue()):
            if i < from_sps:
                count = len(sps.long_term_used)
                index = reader.bits((count - 1).bit_length()) if count > 1 else 0
                used += sps.long_term_used[min(index, count - 1)]
            else:
                reader.bits(sps.log2_max_poc_lsb)
                used += reader.flag()
            if reader.flag():  # delta_poc_msb_present_flag
                reader.ue()
    return used


def _inter_fields(
    reader: BitReader, slice_type: int, sps: HevcSps, pps: HevcPps, temporal_mvp: bool, used: int
) -> None:
    """The fields of P and B slices: reference counts, list modification, weights, merge."""
    l0, l1 = pps.num_ref_idx_l0_default, pps.num_ref_idx_l1_default
    if reader.flag():
        l0 = reader.ue() + 1
        if slice_type == _B:
            l1 = reader.ue() + 1
    if pps.lists_modification_present and used > 1:
        bits = (used - 1).bit_length()
        for present, count in ((True, l0), (slice_type == _B, l1)):
            if present and reader.flag():
                reader.bits(bits * count)
    if slice_type == _B:
        reader.flag()  # mvd_l1_zero_flag
    if pps.cabac_init_present:
        reader.flag()
    if temporal_mvp:
        from_l0 = reader.flag() if slice_type == _B else True
        if (l0 if from_l0 else l1) > 1:
            reader.ue()
    if (pps.weighted_pred and slice_type == _P) or (pps.weighted_bipred and slice_type == _B):
        _skip_pred_weight_table(reader, slice_type, l0, l1, sps.chroma_array_type)
    reader.ue()  # five_minus_max_num_merge_cand


def _skip_pred_weight_table(
    reader: BitReader, slice_type: int, l0: int, l1: int, chroma: int
) -> None:
    reader.ue()
    if chroma:
        reader.se()
    for count in (l0, l1 if slice_type == _B else 0):
        luma = [reader.flag() for _ in range(count)]
        chromas = [reader.flag() for _ in range(count)] if chroma else [False] * count
        for has_luma, has_chroma in zip(luma, chromas, strict=True):
            if has_luma:
                reader.se(), reader.se()
            if has_chroma:
                for _ in range(4):
                    reader.se()
