"""Test-only decryption of Common Encryption files, to check our encryption independently.

Reads a fragmented MP4 (init + fragments, one track) written by anyone (us or
Shaka Packager), finds 'tenc' in the init and 'senc' + 'trun' in each
fragment, and returns each sample's clear bytes and subsample map.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from openvod.media.crypto.sample_cipher import counter_block
from openvod.media.crypto.subsamples import protected_ranges
from openvod.media.mp4.boxes import ContainerBox, RawBox, iter_boxes, parse_box, parse_boxes
from openvod.media.mp4.fragment_boxes import TrackFragmentHeaderBox, TrackRunBox
from openvod.media.mp4.movie_boxes import SampleDescriptionBox
from openvod.media.mp4.protection_boxes import (
    SampleEncryptionBox,
    SchemeTypeBox,
    Subsample,
    TrackEncryptionBox,
)


def find_box(box: ContainerBox, path: list[bytes]) -> object:
    """The box at a path of fourccs below ``box`` (first match at each level)."""
    current: object = box
    for fourcc in path:
        assert isinstance(current, ContainerBox), fourcc
        current = current.find(fourcc)
        assert current is not None, fourcc
    return current


@dataclass
class Protection:
    """What the init segment says: scheme, tenc and the original sample entry type."""

    scheme: str
    tenc: TrackEncryptionBox
    entry_type: bytes
    original_format: str
    sinf: bytes  # the whole 'sinf' box


def read_protection(data: bytes) -> Protection:
    """The protection of the first track of a protected init segment (or whole file)."""
    moov = next(b for b in parse_boxes(data) if b.box_fourcc() == b"moov")
    assert isinstance(moov, ContainerBox)
    stsd = find_box(moov, [b"trak", b"mdia", b"minf", b"stbl", b"stsd"])
    assert isinstance(stsd, SampleDescriptionBox)
    entry = stsd.entries[0]
    assert isinstance(entry, RawBox)
    at = entry.payload.find(b"sinf") - 4
    (sinf,) = parse_boxes(entry.payload, at, at + int.from_bytes(entry.payload[at : at + 4]))
    assert isinstance(sinf, ContainerBox)
    schm = sinf.find(b"schm")
    tenc = find_box(sinf, [b"schi", b"tenc"])
    frma = sinf.find(b"frma")
    assert isinstance(schm, SchemeTypeBox) and isinstance(tenc, TrackEncryptionBox)
    original = getattr(frma, "data_format", "")
    return Protection(schm.scheme_type, tenc, entry.kind, original, sinf.to_bytes())


@dataclass
class EncryptedSample:
    """One sample as stored, with its IV and map."""

    data: bytes
    iv: bytes
    subsamples: list[Subsample] | None


def read_samples(data: bytes, iv_size: int) -> list[EncryptedSample]:
    """Every sample of every fragment, with the senc entry that belongs to it."""
    out: list[EncryptedSample] = []
    for header in iter_boxes(data, 0, len(data)):
        if header.fourcc != b"moof":
            continue
        moof = parse_box(data, header)
        assert isinstance(moof, ContainerBox)
        traf = moof.find(b"traf")
        assert isinstance(traf, ContainerBox)
        tfhd, trun = traf.find(b"tfhd"), traf.find(b"trun")
        assert isinstance(tfhd, TrackFragmentHeaderBox) and isinstance(trun, TrackRunBox)
        sizes = (
            trun.sizes.tolist()
            if trun.sizes is not None
            else [tfhd.default_sample_size] * trun.sample_count
        )
        traf_at = next(
            h for h in iter_boxes(data, header.offset + 8, header.end) if h.fourcc == b"traf"
        )
        in_traf = iter_boxes(data, traf_at.payload_offset, traf_at.end)
        senc_header = next(h for h in in_traf if h.fourcc == b"senc")
        senc = SampleEncryptionBox.parse_with_iv_size(
            data[senc_header.payload_offset : senc_header.end], iv_size
        )
        at = header.offset + (trun.data_offset or 0)
        for index, size in enumerate(sizes):
            maps = None if senc.subsamples is None else senc.subsamples[index]
            out.append(EncryptedSample(data[at : at + size], senc.ivs[index], maps))
            at += size
    return out


def decrypt_sample(protection: Protection, key: bytes, sample: EncryptedSample) -> bytes:
    """The clear bytes of one sample."""
    out = bytearray(sample.data)
    if protection.scheme == "cenc":
        cipher = Cipher(algorithms.AES(key), modes.CTR(counter_block(sample.iv))).decryptor()
        ranges = (
            [(0, len(out))] if sample.subsamples is None else protected_ranges(sample.subsamples)
        )
        for at, size in ranges:
            out[at : at + size] = cipher.update(bytes(out[at : at + size]))
        return bytes(out)
    tenc = protection.tenc
    iv = sample.iv or tenc.constant_iv
    if sample.subsamples is None:  # whole blocks, chained, remainder clear
        whole = len(out) // 16 * 16
        decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
        out[:whole] = decryptor.update(bytes(out[:whole]))
        return bytes(out)
    crypt, skip = tenc.crypt_byte_block, tenc.skip_byte_block
    assert crypt > 0, "a 'cbcs' video track has a pattern"
    for at, size in protected_ranges(sample.subsamples):
        # Written independently of openvod's cipher: one block at a time, as ffmpeg does.
        decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
        pos, end = at, at + size
        while end - pos >= 16 * crypt:
            out[pos : pos + 16 * crypt] = decryptor.update(bytes(out[pos : pos + 16 * crypt]))
            pos += 16 * crypt + min(16 * skip, end - pos - 16 * crypt)
    return bytes(out)


def decrypt_file(data: bytes, key: bytes) -> list[bytes]:
    """The clear bytes of every sample of a protected fragmented file."""
    protection = read_protection(data)
    samples = read_samples(data, protection.tenc.per_sample_iv_size)
    return [decrypt_sample(protection, key, sample) for sample in samples]
