"""openvod.httpkit, the pure HTTP toolkit: dates, ranges, entity tags, preconditions.

Property-based (hypothesis) where a rule holds for every input, tables where
RFC 9110 gives one.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import formatdate

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openvod.httpkit.conditionals import Outcome, Preconditions, Validators, evaluate
from openvod.httpkit.dates import DAYS, MONTHS, format_http_date, parse_http_date
from openvod.httpkit.etags import (
    EntityTag,
    list_matches,
    parse_etag,
    parse_tag_list,
    strong_match,
    weak_match,
)
from openvod.httpkit.ranges import (
    BEYOND,
    MAX_HEADER_CHARS,
    MAX_RANGES,
    ByteSpan,
    RangeProblem,
    RangeSpec,
    content_range,
    parse_range_set,
    select_span,
    unsatisfied_range,
)

LONG_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
NOW = datetime(2026, 12, 6, 12, tzinfo=UTC)
moments = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
).map(lambda moment: moment.replace(microsecond=0))


def _clock(moment: datetime) -> str:
    return f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"


def rfc850(moment: datetime) -> str:
    """The obsolete RFC 850 form: ``Sunday, 06-Nov-94 08:49:37 GMT``."""
    return (f"{LONG_DAYS[moment.weekday()]}, {moment.day:02d}-{MONTHS[moment.month - 1]}-"
            f"{moment.year % 100:02d} {_clock(moment)} GMT")  # fmt: skip


def asctime(moment: datetime) -> str:
    """The obsolete asctime form: ``Sun Nov  6 08:49:37 1994``."""
    return (f"{DAYS[moment.weekday()]} {MONTHS[moment.month - 1]} {moment.day:2d} "
            f"{_clock(moment)} {moment.year:04d}")  # fmt: skip


# ---- dates ------------------------------------------------------------------


def test_rfc_examples_all_name_the_same_moment() -> None:
    expected = datetime(1994, 11, 6, 8, 49, 37, tzinfo=UTC)
    for text in ("Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT",
                 "Sun Nov  6 08:49:37 1994"):  # fmt: skip
        assert parse_http_date(text) == expected, text
    assert format_http_date(expected) == "Sun, 06 Nov 1994 08:49:37 GMT"


@given(moments)
def test_imf_fixdate_round_trips(moment: datetime) -> None:
    text = format_http_date(moment)
    assert parse_http_date(text) == moment
    assert parse_http_date(text.encode("ascii")) == moment


@given(moments.filter(lambda m: NOW.year - 49 <= m.year <= NOW.year + 50))
def test_rfc850_round_trips_within_its_century_window(moment: datetime) -> None:
    assert parse_http_date(rfc850(moment), now=NOW) == moment


@given(moments)
def test_asctime_round_trips(moment: datetime) -> None:
    assert parse_http_date(asctime(moment)) == moment


def test_rfc850_two_digit_years_more_than_50_years_ahead_are_in_the_past() -> None:
    assert parse_http_date("Wednesday, 01-Jan-76 00:00:00 GMT", now=NOW) == datetime(
        2076, 1, 1, tzinfo=UTC)  # fmt: skip
    assert parse_http_date("Saturday, 01-Jan-77 00:00:00 GMT", now=NOW) == datetime(
        1977, 1, 1, tzinfo=UTC)  # fmt: skip


@given(moments, st.sampled_from(["GMT", "UTC", "UT", "Z", "+0000", "-0000", "gmt", ""]))
def test_zone_spellings_clients_send_all_mean_gmt(moment: datetime, zone: str) -> None:
    text = format_http_date(moment).removesuffix("GMT") + zone
    assert parse_http_date(text) == moment


@given(moments.filter(lambda m: m.year > 1), st.integers(-23 * 60 - 59, 23 * 60 + 59))
def test_numeric_offsets_are_converted_to_utc(moment: datetime, minutes: int) -> None:
    sign = "-" if minutes < 0 else "+"
    zone = f"{sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"
    local = moment + timedelta(minutes=minutes)
    text = format_http_date(local).removesuffix("GMT") + zone
    assert parse_http_date(text) == moment


@pytest.mark.parametrize("text", [
    "", "garbage", "Thu, 31 Feb 2026 00:00:00 GMT", "Thu, 01 Jan 2026 24:00:00 GMT",
    "Thu, 01 Jan 2026 00:60:00 GMT", "Thu, 01 Jan 2026 00:00:61 GMT",
    "Thu, 01 Foo 2026 00:00:00 GMT", "Thu, 01 Jan 2026 00:00:00 EST",
    "Thu, 01 Jan 2026 00:00:00 +2400", "Thu, 01 Jan 0000 00:00:00 GMT",
    "Thu, 01 Jan 2026 00:00:00 GMT" + " " * 60, "1767225600", "2026-01-01T00:00:00Z",
    "Thu, 01 Jan 2026", "Thu, 01 Jan 99999 00:00:00 GMT", "Thu, 01 Jan 2026 00:00:00 GMT, x",
])  # fmt: skip
def test_invalid_dates_are_none(text: str) -> None:
    assert parse_http_date(text) is None


@given(st.one_of(st.text(), st.binary(), st.from_regex(
    r"[A-Za-z]{0,9},? ?[0-9]{1,3}[ -][A-Za-z]{3}[ -][0-9]{1,5} [0-9]{1,2}:[0-9]{2}:[0-9]{2}"
    r" ?[A-Za-z+-]{0,1}[0-9A-Z]{0,5}", fullmatch=True)))
def test_parsing_never_raises_and_gives_utc(text: str | bytes) -> None:
    parsed = parse_http_date(text)
    assert parsed is None or parsed.utcoffset() == timedelta(0)


@given(st.integers(0, 253402300799))
def test_timestamps_format_as_the_stdlib_does(seconds: int) -> None:
    assert format_http_date(seconds) == formatdate(seconds, usegmt=True)


def test_naive_datetimes_format_as_utc() -> None:
    assert format_http_date(datetime(2026, 1, 1)) == "Thu, 01 Jan 2026 00:00:00 GMT"


# ---- ranges -----------------------------------------------------------------

sizes = st.integers(0, 10**12)
positions = st.integers(0, 10**13)


@pytest.mark.parametrize(("header", "expected"), [
    ("bytes=0-499", ByteSpan(0, 500)),
    ("bytes=500-999", ByteSpan(500, 500)),
    ("bytes=-500", ByteSpan(9500, 500)),
    ("bytes=9500-", ByteSpan(9500, 500)),
    ("bytes=0-0", ByteSpan(0, 1)),
    ("bytes=-1", ByteSpan(9999, 1)),
    ("bytes=0-99999", ByteSpan(0, 10000)),
    ("Bytes = 1 - 2", ByteSpan(1, 2)),
    ("bytes=0-1,", ByteSpan(0, 2)),  # empty list members are allowed
    (b"bytes=5-", ByteSpan(5, 9995)),
])  # fmt: skip
def test_rfc_examples_on_10000_bytes(header: str | bytes, expected: ByteSpan) -> None:
    assert select_span(header, 10000) == expected
    assert select_span(header, 10000, strict=True) == expected


@pytest.mark.parametrize("header", [
    "bytes=10000-", "bytes=10000-20000", "bytes=-0", "bytes=" + "9" * 5000 + "-",
])  # fmt: skip
def test_unsatisfiable(header: str) -> None:
    assert select_span(header, 10000) is RangeProblem.UNSATISFIABLE
    assert select_span(header, 10000, strict=True) is RangeProblem.UNSATISFIABLE


@pytest.mark.parametrize("header", [
    "pages=0-1", "bytes=", "bytes=-", "bytes=a-b", "bytes=5-1", "bytes 0-1", "0-1",
    "bytes=0-1,4-5", "bytes=1-2-3", "bytes=+1-2", "bytes=٣-٤", "bytes=0x10-",
    "bytes=" + ",".join(["0-1"] * (MAX_RANGES + 1)), "bytes=0-" + "0" * MAX_HEADER_CHARS,
])  # fmt: skip
def test_malformed_or_several_ranges_are_ignored_or_refused(header: str) -> None:
    assert select_span(header, 10000) is RangeProblem.IGNORED
    assert select_span(header, 10000, strict=True) is RangeProblem.MALFORMED


def test_huge_numbers_mean_past_any_size() -> None:
    huge = "9" * 5000
    assert select_span(f"bytes=0-{huge}", 10) == ByteSpan(0, 10)
    assert select_span(f"bytes=-{huge}", 10) == ByteSpan(0, 10)
    assert select_span(f"bytes=3-{huge}", 10) == ByteSpan(3, 7)
    assert select_span(f"bytes={'0' * 5000}7-", 10) == ByteSpan(7, 3)  # leading zeros
    assert parse_range_set(f"bytes={huge[:4000]}-{huge[:4000]}") == (RangeSpec(BEYOND, BEYOND),)
    assert parse_range_set(f"bytes={huge}-{huge}") is None  # over MAX_HEADER_CHARS


def test_several_ranges_parse_in_order() -> None:
    assert parse_range_set("bytes=0-1, 5-, -3") == (
        RangeSpec(0, 1), RangeSpec(5, None), RangeSpec(None, 3))  # fmt: skip


@given(positions, st.one_of(st.none(), positions), sizes)
def test_resolved_spans_lie_within_the_representation(
    first: int, last: int | None, size: int
) -> None:
    if last is not None and last < first:
        first, last = last, first
    span = RangeSpec(first, last).resolve(size)
    if span is None:
        assert first >= size
        return
    assert span.start >= 0 and span.length >= 1 and span.start + span.length <= size
    assert span.start == first
    assert span.last == min(size - 1, last if last is not None else size - 1)


@given(st.integers(0, 10**13), sizes)
def test_suffix_ranges_are_the_last_bytes(suffix: int, size: int) -> None:
    span = select_span(f"bytes=-{suffix}", size)
    if suffix == 0 or size == 0:
        assert span is RangeProblem.UNSATISFIABLE
        return
    assert span == ByteSpan(size - min(suffix, size), min(suffix, size))


@given(positions, sizes)
def test_open_ended_ranges_run_to_the_end(first: int, size: int) -> None:
    span = select_span(f"bytes={first}-", size)
    expected = ByteSpan(first, size - first) if first < size else RangeProblem.UNSATISFIABLE
    assert span == expected


@given(st.one_of(
    st.text(), st.binary(),
    st.from_regex(r"[bB][yY][tT][eE][sS] ?= ?([0-9]{0,40} ?- ?[0-9]{0,40} ?,? ?){0,5}",
                  fullmatch=True),  # fmt: skip
    st.integers(1, 6000).map(lambda n: f"bytes={'7' * n}-{'8' * n}"),
), sizes, st.booleans())
def test_range_parsing_never_raises(header: str | bytes, size: int, strict: bool) -> None:
    choice = select_span(header, size, strict=strict)
    if isinstance(choice, ByteSpan):
        assert choice.start >= 0 and choice.start + choice.length <= size and choice.length > 0
    else:
        assert choice is not (RangeProblem.IGNORED if strict else RangeProblem.MALFORMED)


def test_content_range_values() -> None:
    assert content_range(ByteSpan(0, 500), 10000) == "bytes 0-499/10000"
    assert unsatisfied_range(10000) == "bytes */10000"


# ---- entity tags ------------------------------------------------------------

opaques = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters='"'))
tags = st.builds(EntityTag, opaques, st.booleans())


@pytest.mark.parametrize(("a", "b", "strong", "weak"), [
    ('W/"1"', 'W/"1"', False, True),
    ('W/"1"', 'W/"2"', False, False),
    ('W/"1"', '"1"', False, True),
    ('"1"', '"1"', True, True),
])  # fmt: skip
def test_rfc_9110_comparison_table(a: str, b: str, strong: bool, weak: bool) -> None:
    tag_a, tag_b = parse_etag(a), parse_etag(b)
    assert tag_a is not None and tag_b is not None
    assert strong_match(tag_a, tag_b) is strong and strong_match(tag_b, tag_a) is strong
    assert weak_match(tag_a, tag_b) is weak and weak_match(tag_b, tag_a) is weak


@given(tags)
def test_a_tag_round_trips(tag: EntityTag) -> None:
    assert parse_etag(str(tag)) == tag
    assert parse_etag(str(tag).encode()) == tag


@given(st.lists(tags, max_size=20), st.sampled_from([",", ", ", " ,", " , ", ",,"]))
def test_tag_lists_round_trip(listed: list[EntityTag], comma: str) -> None:
    parsed = parse_tag_list(comma.join(str(tag) for tag in listed))
    assert parsed.tags == tuple(listed) and not parsed.any


def test_lists_star_and_bare_tags() -> None:
    assert parse_tag_list(" * ").any
    assert parse_tag_list('"a", 0x8D1, "b,c"').tags == (
        EntityTag("a"), EntityTag("0x8D1"), EntityTag("b,c"))  # fmt: skip
    assert parse_tag_list('"open, "b"').tags == (EntityTag("b"),)  # a broken member is skipped
    assert parse_etag('"a" "b"') is None and parse_etag(None) is None
    current = EntityTag("x")
    assert list_matches(parse_tag_list("*"), current, weak=False)
    assert not list_matches(parse_tag_list("*"), None, weak=False)
    assert list_matches(parse_tag_list('W/"x"'), current, weak=True)
    assert not list_matches(parse_tag_list('W/"x"'), current, weak=False)


@given(st.one_of(st.text(), st.binary()))
def test_tag_parsing_never_raises(text: str | bytes) -> None:
    parse_tag_list(text)
    parse_etag(text)


# ---- preconditions ----------------------------------------------------------

ETAG = '"0x8D1"'
MODIFIED = datetime(2026, 1, 1, 12, 0, 0, 500000, tzinfo=UTC)  # sub-second, as stores keep it
CURRENT = Validators(ETAG, MODIFIED)
BEFORE = format_http_date(MODIFIED - timedelta(days=1))
AT = format_http_date(MODIFIED)
AFTER = format_http_date(MODIFIED + timedelta(days=1))
header_values = st.one_of(st.none(), st.sampled_from(
    [ETAG, '"other"', f"W/{ETAG}", "*", BEFORE, AT, AFTER, "junk", ""]), st.text(max_size=40))
conditions = st.builds(Preconditions, header_values, header_values, header_values,
                       header_values, header_values)  # fmt: skip
methods = st.sampled_from(["GET", "HEAD", "PUT", "DELETE", "get"])


def outcome(method: str = "GET", **headers: str) -> Outcome:
    return evaluate(Preconditions(**headers), CURRENT, method=method).outcome


def test_each_header_alone() -> None:
    assert outcome() is Outcome.PROCEED
    assert outcome(if_match=ETAG) is Outcome.PROCEED
    assert outcome(if_match=f'"a", {ETAG}') is Outcome.PROCEED
    assert outcome(if_match="*") is Outcome.PROCEED
    assert outcome(if_match='"other"') is Outcome.FAILED
    assert outcome(if_match=f"W/{ETAG}") is Outcome.FAILED  # If-Match compares strongly
    assert outcome(if_unmodified_since=AT) is Outcome.PROCEED
    assert outcome(if_unmodified_since=BEFORE) is Outcome.FAILED
    assert outcome(if_none_match=f"W/{ETAG}") is Outcome.NOT_MODIFIED  # weakly
    assert outcome("PUT", if_none_match=ETAG) is Outcome.FAILED
    assert outcome("DELETE", if_none_match="*") is Outcome.FAILED
    assert outcome(if_none_match='"other"') is Outcome.PROCEED
    assert outcome(if_modified_since=AT) is Outcome.NOT_MODIFIED  # at one-second resolution
    assert outcome(if_modified_since=AFTER) is Outcome.NOT_MODIFIED
    assert outcome(if_modified_since=BEFORE) is Outcome.PROCEED
    assert outcome(if_modified_since="Thu, 01 Jan 2026 13:00:00 -0000") is Outcome.NOT_MODIFIED
    assert outcome(if_modified_since="Thu, 01 Jan 2026 11:00:00") is Outcome.PROCEED


@given(conditions, methods)
def test_if_match_failing_wins_over_everything(pre: Preconditions, method: str) -> None:
    failing = Preconditions('"other"', pre.if_none_match, pre.if_modified_since,
                            pre.if_unmodified_since, pre.if_range)  # fmt: skip
    verdict = evaluate(failing, CURRENT, method=method)
    assert (verdict.outcome, verdict.decided_by) == (Outcome.FAILED, "if-match")


@given(conditions, methods)
def test_if_unmodified_since_is_ignored_when_if_match_is_present(
    pre: Preconditions, method: str
) -> None:
    matching = Preconditions(ETAG, pre.if_none_match, pre.if_modified_since, BEFORE, pre.if_range)
    assert evaluate(matching, CURRENT, method=method).decided_by != "if-unmodified-since"
    without = Preconditions(None, None, None, BEFORE, None)
    assert evaluate(without, CURRENT, method=method).decided_by == "if-unmodified-since"


@given(conditions, st.sampled_from(["GET", "HEAD"]))
def test_if_modified_since_is_ignored_when_if_none_match_is_present(
    pre: Preconditions, method: str
) -> None:
    unmatched = Preconditions(None, '"other"', AFTER, None, pre.if_range)
    assert evaluate(unmatched, CURRENT, method=method).outcome is Outcome.PROCEED
    alone = Preconditions(None, None, AFTER, None, None)
    assert evaluate(alone, CURRENT, method=method).outcome is Outcome.NOT_MODIFIED


@given(conditions)
def test_if_modified_since_only_guards_reads_unless_asked(pre: Preconditions) -> None:
    since = Preconditions(None, None, AFTER, None, pre.if_range)
    assert evaluate(since, CURRENT, method="PUT").outcome is Outcome.PROCEED
    azure = evaluate(since, CURRENT, method="PUT", modified_since_on_writes=True)
    assert (azure.outcome, azure.decided_by) == (Outcome.FAILED, "if-modified-since")


@given(conditions, methods)
def test_a_failure_names_a_header_that_was_sent(pre: Preconditions, method: str) -> None:
    verdict = evaluate(pre, CURRENT, method=method)
    if verdict.outcome is Outcome.PROCEED:
        assert verdict.decided_by is None
    else:
        assert getattr(pre, (verdict.decided_by or "").replace("-", "_")) is not None
        assert verdict.outcome is not Outcome.NOT_MODIFIED or method.upper() in ("GET", "HEAD")


@given(st.text(max_size=60), st.text(max_size=60), methods)
def test_unreadable_dates_are_ignored(since: str, unmodified: str, method: str) -> None:
    pre = Preconditions(if_modified_since=since, if_unmodified_since=unmodified)
    verdict = evaluate(pre, CURRENT, method=method, modified_since_on_writes=True)
    if parse_http_date(since) is None and parse_http_date(unmodified) is None:
        assert verdict.outcome is Outcome.PROCEED


def test_without_a_current_representation() -> None:
    def absent(**headers: str) -> Outcome:
        return evaluate(Preconditions(**headers), None, method="PUT").outcome

    assert absent(if_match="*") is Outcome.FAILED
    assert absent(if_match=ETAG) is Outcome.FAILED
    assert absent(if_none_match="*") is Outcome.PROCEED
    assert absent(if_unmodified_since=BEFORE, if_modified_since=AFTER) is Outcome.PROCEED


@pytest.mark.parametrize(("if_range", "applies"), [
    (None, True), (ETAG, True), (f"W/{ETAG}", False), ('"stale"', False), (AT, True),
    (BEFORE, False), (AFTER, False), ("junk", False), ("", False),
])  # fmt: skip
def test_if_range(if_range: str | None, applies: bool) -> None:
    verdict = evaluate(Preconditions(if_range=if_range), CURRENT, method="GET")
    assert verdict.outcome is Outcome.PROCEED and verdict.range_applies is applies


def test_preconditions_from_headers() -> None:
    raw = {b"if-match": b'"a"', b"if-range": b"Sun, 06 Nov 1994 08:49:37 GMT"}
    assert Preconditions.from_raw_headers(raw) == Preconditions(
        if_match='"a"', if_range="Sun, 06 Nov 1994 08:49:37 GMT")  # fmt: skip
    assert Preconditions.from_headers({"if-none-match": "*"}) == Preconditions(if_none_match="*")
