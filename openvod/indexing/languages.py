"""From an AMS ``audioLanguage`` (BCP 47, e.g. ``en-GB``) to the code the speech model uses."""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

from openvod.errors import UnsupportedLanguageError
from openvod.indexing.speech import MODEL_SETTING

DEFAULT_LANGUAGE = "en-US"
"""What AMS assumes when a preset gives no ``audioLanguage`` (or asks for auto-detection)."""

# BCP 47 primary subtags whose Whisper code differs.
_WHISPER_ALIASES = {"nb": "no", "iw": "he", "fil": "tl", "jv": "jw", "in": "id"}
_TAG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")


@dataclass(frozen=True)
class Language:
    """A requested language: its BCP 47 tag (for files and insights) and the model's code."""

    tag: str
    code: str


def normalise_tag(tag: str) -> str:
    """``EN_gb`` -> ``en-GB``: language lower case, region upper case, script title case."""
    parts = tag.strip().replace("_", "-").split("-")
    result = [parts[0].lower()]
    for part in parts[1:]:
        if len(part) == 2 or part.isdigit():
            result.append(part.upper())
        elif len(part) == 4:
            result.append(part.title())
        else:
            result.append(part)
    return "-".join(result)


def resolve_language(audio_language: str | None, supported: Collection[str],
                     model_name: str) -> Language:
    """The language to transcribe; raise UnsupportedLanguageError if the model lacks it.

    None, ``""`` and ``auto`` mean en-US (openvod does not detect the language).
    """
    requested = (audio_language or "").strip()
    tag = DEFAULT_LANGUAGE if requested.lower() in ("", "auto") else normalise_tag(requested)
    if not _TAG.match(tag):
        raise UnsupportedLanguageError(
            f"audioLanguage '{requested}' is not a BCP 47 language tag such as 'en-US'"
        )
    primary = tag.split("-")[0]
    code = _WHISPER_ALIASES.get(primary, primary)
    if code not in supported:
        hint = ("it is English-only" if set(supported) == {"en"}
                else f"it transcribes {len(supported)} languages, not this one")
        raise UnsupportedLanguageError(
            f"The speech model '{model_name}' cannot transcribe the language '{tag}' ({hint}). "
            f"Set {MODEL_SETTING} (setting speech_model) to a multilingual faster-whisper model, "
            "a folder or a name already in the Hugging Face cache, such as 'small' or "
            "'Systran/faster-whisper-small'"
        )
    return Language(tag, code)
