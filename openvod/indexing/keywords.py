"""Keywords of a transcript, with the times each one is said.

The statistic is RAKE (Rose et al., "Automatic keyword extraction from
individual documents", 2010): candidate phrases are runs of up to three
content words between stop words and punctuation; a word scores its degree
(how many words it co-occurs with in candidates) over its frequency, a phrase
the sum of its words' scores. Phrases said more than once rank higher. It
needs no model and no corpus, and is simple enough to test exhaustively.
(``yake`` was considered: its package is GPL-licensed, openvod is Apache-2.0.)
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from openvod.indexing.speech import Word

MAX_PHRASE_WORDS = 3
MIN_WORD_CHARS = 3

_STOP_WORDS_TEXT = """
a about above after again against all almost also am an and any are aren't as at be because
been before being below between both but by can can't cannot could couldn't did didn't do does
doesn't doing don't down during each either else even ever every few for from further get gets
go going gonna got had hadn't has hasn't have haven't having he he'd he'll he's her here here's
hers herself him himself his how how's however i i'd i'll i'm i've if in into is isn't it it's
its itself just let's like many may maybe me might more most much must mustn't my myself need
no nor not now of off oh ok okay on once one only or other ought our ours ourselves out over own
really right same say says see shall shan't she she'd she'll she's should shouldn't so some
still such than that that's the their theirs them themselves then there there's these they
they'd they'll they're they've thing things this those though through to too under until up
upon us very want was wasn't we we'd we'll we're we've well were weren't what what's when
when's where where's whether which while who who's whom why why's will with within without
won't would wouldn't yeah yes yet you you'd you'll you're you've your yours yourself
yourselves
"""
ENGLISH_STOP_WORDS = frozenset(_STOP_WORDS_TEXT.split())

_NORMALISE = re.compile(r"[^\w']+")


@dataclass(frozen=True)
class Keyword:
    """A keyword, its confidence (0-1, relative to the best one) and where it is said."""

    text: str
    confidence: float
    instances: tuple[tuple[float, float], ...]  # (start, end) seconds


def normalise_word(text: str) -> str:
    """Lower case without surrounding punctuation: ``"Video,"`` -> ``video``."""
    return _NORMALISE.sub(" ", text.lower()).strip(" '")


def extract_keywords(words: Sequence[Word], language: str = "en",
                     max_keywords: int = 20) -> list[Keyword]:
    """The best ``max_keywords`` keywords of ``words`` (spoken in order), best first."""
    stop_words = ENGLISH_STOP_WORDS if language == "en" else frozenset()
    phrases = _candidates(words, stop_words)
    if not phrases:
        return []
    frequency: Counter[str] = Counter()
    degree: Counter[str] = Counter()
    for tokens, _span in phrases:
        for token in tokens:
            frequency[token] += 1
            degree[token] += len(tokens)
    occurrences: dict[tuple[str, ...], list[tuple[float, float]]] = defaultdict(list)
    for tokens, span in phrases:
        occurrences[tokens].append(span)
    scores = {
        tokens: sum(degree[t] / frequency[t] for t in tokens) * (1 + 0.5 * (len(spans) - 1))
        for tokens, spans in occurrences.items()
    }
    ranked = sorted(scores, key=lambda tokens: (-scores[tokens], tokens))[:max_keywords]
    best = scores[ranked[0]]
    return [Keyword(" ".join(tokens), round(scores[tokens] / best, 4), tuple(occurrences[tokens]))
            for tokens in ranked]


def _candidates(words: Sequence[Word],
                stop_words: frozenset[str]) -> list[tuple[tuple[str, ...], tuple[float, float]]]:
    """(tokens, (start, end)) of each run of content words, at most MAX_PHRASE_WORDS long."""
    result = []
    run: list[Word] = []

    def flush() -> None:
        if run:
            tokens = tuple(normalise_word(w.text) for w in run)
            result.append((tokens, (run[0].start_seconds, run[-1].end_seconds)))
            run.clear()

    for word in words:
        token = normalise_word(word.text)
        if " " in token or token in stop_words or len(token) < MIN_WORD_CHARS or token.isdigit():
            flush()
            continue
        run.append(word)
        if len(run) == MAX_PHRASE_WORDS or re.search(r"[.,;:!?]\W*$", word.text):
            flush()  # punctuation ends a phrase
    flush()
    return result
