"""H.264 slice header sizes (ITU-T H.264 7.3.2.1, 7.3.2.2, 7.3.3), for subsample maps.

'cbcs' (and, as Shaka Packager does it, 'cenc') leave each video slice's
header in the clear, so the encrypted part starts with the slice data. To
know where that is, the header is parsed with the SPS and PPS it refers to.
Only the fields that change the header's length are kept.
"""

from __future__ import annotations

from dataclasses import dataclass

from openvod.errors import MediaError
from openvod.media.crypto.rbsp import BitReader, measure_header

_HIGH_PROFILES = frozenset({100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135})
_P, _B, _I, _SP, _SI = 0, 1, 2, 3, 4
_IDR = 5
_HEADER_WINDOW = 32  # bytes of a slice NAL unit read at first (grown when a header is longer)


@dataclass(frozen=True)
class AvcSps:
    """The SPS fields a slice header's length depends on."""

    sps_id: int
    chroma_format_idc: int
    separate_colour_plane: bool
    log2_max_frame_num: int
    pic_order_cnt_type: int
    log2_max_poc_lsb: int
    delta_pic_order_always_zero: bool
    frame_mbs_only: bool
    pic_size_in_map_units: int


@dataclass(frozen=True)
class AvcPps:
    """The PPS fields a slice header's length depends on."""

    pps_id: int
    sps_id: int
    entropy_coding_mode: bool
    bottom_field_pic_order_present: bool
    num_slice_groups_minus1: int
    slice_group_map_type: int
    slice_group_change_rate: int
    num_ref_idx_l0_default: int
    num_ref_idx_l1_default: int
    weighted_pred: bool
    weighted_bipred_idc: int
    deblocking_filter_control_present: bool
    redundant_pic_cnt_present: bool


def _skip_scaling_list(reader: BitReader, size: int) -> None:
    last, following = 8, 8
    for _ in range(size):
        if following:
            following = (last + reader.se() + 256) % 256
        last = following or last


def parse_sps(nal: bytes) -> AvcSps:
    """Parse an SPS NAL unit (NAL header byte included)."""
    reader = BitReader(nal[1:])
    try:
        profile = reader.bits(8)
        reader.bits(16)  # constraint flags, level_idc
        sps_id = reader.ue()
        chroma, separate = 1, False
        if profile in _HIGH_PROFILES:
            chroma = reader.ue()
            separate = chroma == 3 and reader.flag()
            reader.ue(), reader.ue(), reader.flag()  # bit depths, transform bypass
            if reader.flag():  # seq_scaling_matrix_present_flag
                for index in range(8 if chroma != 3 else 12):
                    if reader.flag():
                        _skip_scaling_list(reader, 16 if index < 6 else 64)
        log2_max_frame_num = reader.ue() + 4
        poc_type, log2_poc, always_zero = reader.ue(), 0, False
        if poc_type == 0:
            log2_poc = reader.ue() + 4
        elif poc_type == 1:
            always_zero = reader.flag()
            reader.se(), reader.se()
            for _ in range(reader.ue()):
                reader.se()
        reader.ue(), reader.flag()  # max_num_ref_frames, gaps_in_frame_num_allowed
        width, height = reader.ue() + 1, reader.ue() + 1
        frame_mbs_only = reader.flag()
    except EOFError:
        raise MediaError("truncated H.264 SPS") from None
    return AvcSps(sps_id, chroma, separate, log2_max_frame_num, poc_type, log2_poc,
                  always_zero, frame_mbs_only, width * height)  # fmt: skip


def parse_pps(nal: bytes) -> AvcPps:
    """Parse a PPS NAL unit (NAL header byte included)."""
    reader = BitReader(nal[1:])
    try:
        pps_id, sps_id = reader.ue(), reader.ue()
        entropy, bottom = reader.flag(), reader.flag()
        groups_minus1, map_type, change_rate = reader.ue(), 0, 1
        if groups_minus1 > 0:
            map_type = reader.ue()
            if map_type == 0:
                for _ in range(groups_minus1 + 1):
                    reader.ue()
            elif map_type == 2:
                for _ in range(2 * groups_minus1):
                    reader.ue()
            elif map_type in (3, 4, 5):
                reader.flag()
                change_rate = reader.ue() + 1
            elif map_type == 6:
                bits = groups_minus1.bit_length()
                for _ in range(reader.ue() + 1):
                    reader.bits(bits)
        l0, l1 = reader.ue() + 1, reader.ue() + 1
        weighted_pred, bipred = reader.flag(), reader.bits(2)
        reader.se(), reader.se(), reader.se()  # pic_init_qp/qs, chroma_qp_index_offset
        deblocking = reader.flag()
        reader.flag()  # constrained_intra_pred_flag
        redundant = reader.flag()
    except EOFError:
        raise MediaError("truncated H.264 PPS") from None
    return AvcPps(pps_id, sps_id, entropy, bottom, groups_minus1, map_type, change_rate,
                  l0, l1, weighted_pred, bipred, deblocking, redundant)  # fmt: skip


class AvcSliceHeaderParser:
    """Measures H.264 slice headers, given the stream's SPS and PPS NAL units."""

    def __init__(self, sps: tuple[bytes, ...], pps: tuple[bytes, ...]) -> None:
        self._sps = {s.sps_id: s for s in map(parse_sps, sps)}
        self._pps = {p.pps_id: p for p in map(parse_pps, pps)}

    def add_parameter_set(self, nal: bytes) -> None:
        """Take an in-band SPS (type 7) or PPS (type 8) into account."""
        kind = nal[0] & 0x1F
        if kind == 7:
            sps = parse_sps(nal)
            self._sps[sps.sps_id] = sps
        elif kind == 8:
            pps = parse_pps(nal)
            self._pps[pps.pps_id] = pps

    def header_size(self, nal: bytes | memoryview) -> int:
        """Bytes of the slice header after the NAL header byte (rounded up to whole bytes,
        as Shaka Packager measures it: under CABAC the slice data starts byte-aligned)."""
        return measure_header(self._measure, nal, _HEADER_WINDOW, "H.264 slice header")

    def _measure(self, nal: bytes | memoryview, window: int) -> int:
        reader = BitReader(nal[1 : 1 + window])
        nal_ref_idc, nal_type = (nal[0] >> 5) & 3, nal[0] & 0x1F
        reader.ue()  # first_mb_in_slice
        slice_type = reader.ue() % 5
        pps = self._pps.get(reader.ue())
        sps = self._sps.get(pps.sps_id) if pps is not None else None
        if pps is None or sps is None:
            raise MediaError("H.264 slice refers to a missing SPS or PPS")
        _skip_picture_fields(reader, nal_type, sps, pps)
        _skip_prediction_fields(reader, slice_type, sps, pps)
        if nal_ref_idc:
            _skip_dec_ref_pic_marking(reader, nal_type == _IDR)
        if pps.entropy_coding_mode and slice_type not in (_I, _SI):
            reader.ue()
        reader.se()  # slice_qp_delta
        if slice_type in (_SP, _SI):
            if slice_type == _SP:
                reader.flag()
            reader.se()
        if pps.deblocking_filter_control_present and reader.ue() != 1:
            reader.se(), reader.se()
        if pps.num_slice_groups_minus1 > 0 and pps.slice_group_map_type in (3, 4, 5):
            units = sps.pic_size_in_map_units / pps.slice_group_change_rate + 1
            reader.bits((int(units) - (units == int(units))).bit_length())
        return reader.raw_bytes_read


def _skip_picture_fields(reader: BitReader, nal_type: int, sps: AvcSps, pps: AvcPps) -> None:
    """From colour_plane_id to redundant_pic_cnt: which picture the slice belongs to."""
    if sps.separate_colour_plane:
        reader.bits(2)
    reader.bits(sps.log2_max_frame_num)
    field_pic = False
    if not sps.frame_mbs_only:
        field_pic = reader.flag()
        if field_pic:
            reader.flag()
    if nal_type == _IDR:
        reader.ue()
    if sps.pic_order_cnt_type == 0:
        reader.bits(sps.log2_max_poc_lsb)
        if pps.bottom_field_pic_order_present and not field_pic:
            reader.se()
    if sps.pic_order_cnt_type == 1 and not sps.delta_pic_order_always_zero:
        reader.se()
        if pps.bottom_field_pic_order_present and not field_pic:
            reader.se()
    if pps.redundant_pic_cnt_present:
        reader.ue()


def _skip_prediction_fields(reader: BitReader, slice_type: int, sps: AvcSps, pps: AvcPps) -> None:
    """From direct_spatial_mv_pred_flag to pred_weight_table: how the slice is predicted."""
    if slice_type == _B:
        reader.flag()
    l0, l1 = pps.num_ref_idx_l0_default, pps.num_ref_idx_l1_default
    if slice_type in (_P, _SP, _B) and reader.flag():
        l0 = reader.ue() + 1
        if slice_type == _B:
            l1 = reader.ue() + 1
    _skip_ref_pic_list_modification(reader, slice_type)
    if (pps.weighted_pred and slice_type in (_P, _SP)) or (
        pps.weighted_bipred_idc == 1 and slice_type == _B
    ):
        _skip_pred_weight_table(reader, slice_type, l0, l1, sps)


def _skip_ref_pic_list_modification(reader: BitReader, slice_type: int) -> None:
    for present in (slice_type not in (_I, _SI), slice_type == _B):
        if present and reader.flag():
            while (idc := reader.ue()) != 3:
                if idc > 5:
                    raise MediaError("invalid modification_of_pic_nums_idc")
                reader.ue()


def _skip_pred_weight_table(
    reader: BitReader, slice_type: int, l0: int, l1: int, sps: AvcSps
) -> None:
    chroma = 0 if sps.separate_colour_plane else sps.chroma_format_idc
    reader.ue()
    if chroma:
        reader.ue()
    for count in (l0, l1 if slice_type == _B else 0):
        for _ in range(count):
            if reader.flag():
                reader.se(), reader.se()
            if chroma and reader.flag():
                for _ in range(4):
                    reader.se()


def _skip_dec_ref_pic_marking(reader: BitReader, idr: bool) -> None:
    if idr:
        reader.bits(2)
        return
    if reader.flag():
        while (operation := reader.ue()) != 0:
            if operation > 6:
                raise MediaError("invalid memory_management_control_operation")
            if operation in (1, 3):
                reader.ue()
            if operation == 2:
                reader.ue()
            if operation in (3, 6):
                reader.ue()
            if operation == 4:
                reader.ue()
