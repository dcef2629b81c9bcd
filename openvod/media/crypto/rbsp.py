"""A bit reader over the RBSP of an H.264/HEVC NAL unit, for parsing headers."""

from __future__ import annotations

from collections.abc import Callable

from openvod.errors import MediaError


class BitReader:
    """Reads bits of an RBSP, skipping emulation prevention bytes (00 00 03).

    :attr:`raw_bytes_read` counts the bytes of the NAL unit consumed (a partly
    read byte included), prevention bytes included, which is what a subsample
    map measures.
    """

    def __init__(self, data: bytes | memoryview) -> None:
        raw = bytes(data)
        self._raw_end: list[int] | None = None  # raw offset one past rbsp byte i, if escaped
        if raw.find(b"\x00\x00\x03") >= 0:
            raw = self._unescape(raw)
        self._value = int.from_bytes(raw, "big")
        self._total = len(raw) * 8
        self._pos = 0

    def _unescape(self, raw: bytes) -> bytes:
        """The RBSP of escaped data, remembering where each of its bytes came from."""
        rbsp = bytearray()
        self._raw_end = []
        zeros = 0
        for index, byte in enumerate(raw):
            if zeros >= 2 and byte == 3:
                zeros = 0
                continue
            rbsp.append(byte)
            self._raw_end.append(index + 1)
            zeros = zeros + 1 if byte == 0 else 0
        return bytes(rbsp)

    def bits(self, count: int) -> int:
        """The next ``count`` bits as an unsigned integer."""
        if self._pos + count > self._total:
            raise EOFError
        self._pos += count
        return (self._value >> (self._total - self._pos)) & ((1 << count) - 1) if count else 0

    def flag(self) -> bool:
        """One bit."""
        return bool(self.bits(1))

    def ue(self) -> int:
        """An unsigned Exp-Golomb code."""
        left = self._total - self._pos
        peek = min(left, 33)  # 32 leading zeros at most, and the one that ends them
        value = (self._value >> (left - peek)) & ((1 << peek) - 1)
        if not value:
            if peek < 33:
                raise EOFError
            raise MediaError("invalid Exp-Golomb code in a NAL unit header")
        zeros = peek - value.bit_length()
        self._pos += zeros + 1
        return (1 << zeros) - 1 + self.bits(zeros)

    def se(self) -> int:
        """A signed Exp-Golomb code."""
        value = self.ue()
        return (value + 1) // 2 if value & 1 else -(value // 2)

    def align(self) -> None:
        """Skip to the next byte boundary."""
        self._pos += -self._pos % 8
        if self._pos > self._total:
            raise EOFError

    @property
    def raw_bytes_read(self) -> int:
        """Bytes of the raw (escaped) data consumed so far, a partly read one included."""
        used = (self._pos + 7) // 8  # a partly read byte counts: slice data starts after it
        if self._raw_end is None or not used:
            return used
        return self._raw_end[used - 1]


def measure_header(
    measure: Callable[[bytes | memoryview, int], int],
    nal: bytes | memoryview,
    first_window: int,
    what: str,
) -> int:
    """``measure(nal, window)`` on a window of the NAL unit that grows (x4) while the header
    runs past it (EOFError): most headers fit the first window, so little is unescaped."""
    window = first_window
    while True:
        try:
            return measure(nal, window)
        except EOFError:
            if window >= len(nal):
                raise MediaError(f"truncated {what}") from None
            window *= 4
