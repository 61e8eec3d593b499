"""One supplier room name → what it says: kind, tier, bed, view, features, bedrooms; board, occupancy, rate
plan and marketing words dropped; words it does not know kept apart (they lower the confidence).

English is read word by word after NFKC and case-folding ("Dlx Twn", "STD DBL", "Superior Queen"), phrases
first ("bed and breakfast", "double occupancy", "junior suite"), a number before a bed word counting beds
("2 Queen Beds" is a two-bed room); a word the lexicon lacks is corrected when it is one edit (two for long
words) from a known word (rapidfuzz: "Deluxxe", "Superiour"). Han runs are read longest form first
("豪华双床房" → deluxe, twin).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz import process
from rapidfuzz.distance import DamerauLevenshtein

from core.rooms.lexicon import (
    CHINESE,
    CHINESE_BEDROOMS,
    CHINESE_IMPLIED_TWIN,
    CORRECTABLE,
    KIND_RANK,
    MAX_PHRASE,
    NOISE_PHRASE_STARTS,
    NOISE_PHRASES,
    NUMBERS,
    PHRASE_STARTS,
    PHRASES,
    TIER_CLASS,
    TIER_RANK,
    WORDS,
    Meaning,
)

ROOM_CLASSES = ("standard", "superior", "deluxe", "premium", "executive", "junior suite", "suite", "family",
                "studio", "apartment", "villa", "other")
BED_TYPES = ("king", "queen", "double", "twin", "single", "other", "unknown")
ONE_BED = ("king", "queen", "double")

_TOKEN = re.compile(r"[a-z0-9'²]+|[\u3400-\u9fff]+|\|")
# punctuation between parts of a name: no phrase reads across it ("Double | Breakfast Included" keeps its double)
_BOUNDARY = re.compile(r"[|,;()\[\]【】/]|\s[-–—]+\s|[–—]")
_HAN = re.compile(r"[\u3400-\u9fff]")
_CHINESE_RE = re.compile("|".join(sorted(map(re.escape, CHINESE), key=len, reverse=True)))
_DIGIT_SPLIT = re.compile(r"(?<=\d)(?=[a-z])|(?<=[a-z])(?=\d)")


@dataclass(frozen=True, slots=True)
class RoomParse:
    kind: str                 # room, suite, junior_suite, family, studio, apartment, villa, other
    tier: str | None          # None: the name states none
    bed: str | None           # king, queen, double (one bed, size unstated), twin, single, other, flex; None
    view: str | None
    features: frozenset[str]
    subtype: str | None       # loft, japanese, dorm, honeymoon, penthouse, royal
    bedrooms: int | None
    smoking: str | None       # "non" | "yes" | None: an attribute, never a different product
    residual: tuple[str, ...]  # words not understood
    corrections: int
    recognised: bool          # a kind, tier or bed word was found

    @property
    def room_class(self) -> str:
        return room_class(self.kind, self.tier, self.subtype, self.recognised)

    @property
    def bed_type(self) -> str:
        return bed_type(self.bed)

    @property
    def confidence(self) -> float:
        """How sure the parse is (1.0: every word understood)."""
        if not self.recognised:
            return 0.2
        score = 1.0 - 0.05 * self.corrections
        for word in self.residual:
            score -= 0.1 if len(word) <= 2 and not _HAN.match(word) else 0.2
        if self.tier is None and self.kind == "room" and self.bed is None:
            score -= 0.35  # "Room": nothing says which
        return max(score, 0.0)


def room_class(kind: str, tier: str | None, subtype: str | None, recognised: bool = True) -> str:
    if kind == "junior_suite":
        return "junior suite"
    if kind == "room":
        if not recognised or subtype in ("japanese", "dorm", "loft", "roh"):
            return "other"
        return TIER_CLASS.get(tier or "standard", tier or "standard")
    return kind


def bed_type(bed: str | None) -> str:
    if bed is None:
        return "unknown"
    return "other" if bed == "flex" else bed


@lru_cache(maxsize=65536)
def _correct(word: str) -> tuple[str, bool]:
    """A word the lexicon lacks → the known word one typo away (or itself)."""
    if word in WORDS or len(word) < 4 or not word.isalpha():
        return word, False
    if word.endswith("s") and word[:-1] in WORDS:
        return word[:-1], False
    limit = 1 if len(word) < 8 else 2
    found = process.extract(word, CORRECTABLE, scorer=DamerauLevenshtein.distance, score_cutoff=limit, limit=8)
    nearest = [w for w, distance, _ in found if distance == found[0][1]] if found else []
    same_start = [w for w in nearest if w[0] == word[0]]
    if same_start:
        nearest = same_start
    elif len(word) <= 5:
        return word, False
    meaningful = [w for w in nearest if WORDS[w][0] != "noise"]
    if meaningful:  # "site": suite, not size; "deuxe": deluxe, not deux
        nearest = meaningful
    if not nearest or len({WORDS[w] for w in nearest}) > 1:
        return word, False  # nothing near, or two meanings as near ("site": suite or size)
    return nearest[0], True


def _drop_noise_phrases(tokens: list[str]) -> list[str]:
    kept: list[str] = []
    i = 0
    while i < len(tokens):
        lengths = range(min(MAX_PHRASE, len(tokens) - i), 1, -1) if tokens[i] in NOISE_PHRASE_STARTS else ()
        for length in lengths:
            if tuple(tokens[i:i + length]) in NOISE_PHRASES:
                i += length
                kept.append("|")  # keeps the words on either side apart
                break
        else:
            kept.append(tokens[i])
            i += 1
    return kept


def _english_meanings(words: list[str]) -> tuple[list[tuple[Meaning, int]], list[str], int]:
    corrections = 0
    tokens: list[str] = []
    for word in words:
        fixed, changed = _correct(word)
        corrections += changed
        tokens.append(fixed)
    tokens = _drop_noise_phrases(tokens)
    meanings: list[tuple[Meaning, int]] = []
    residual: list[str] = []
    i = 0
    while i < len(tokens):
        lengths = range(min(MAX_PHRASE, len(tokens) - i), 1, -1) if tokens[i] in PHRASE_STARTS else ()
        for length in lengths:
            meaning = PHRASES.get(tuple(tokens[i:i + length]))
            if meaning is not None:
                meanings.append((meaning, 1))
                i += length
                break
        else:
            token = tokens[i]
            if token == "|":
                i += 1
                continue
            count = NUMBERS.get(token)
            if count is not None:
                j = i + 1 + (i + 1 < len(tokens) and tokens[i + 1] == "x")
                following = WORDS.get(tokens[j]) if j < len(tokens) else None
                if following is not None and following[0] in ("bed", "beds", "bedroom"):
                    meanings.append((following, count))
                    i = j + 1
                    continue
            meaning = WORDS.get(token)
            if meaning is not None:
                meanings.append((meaning, 1))
            elif not token.isdigit():
                residual.append(token)
            i += 1
    return meanings, residual, corrections


def _chinese_meanings(run: str) -> tuple[list[tuple[Meaning, int]], list[str]]:
    meanings: list[tuple[Meaning, int]] = []
    residual: list[str] = []
    position = 0
    for match in _CHINESE_RE.finditer(run):
        if match.start() > position:
            residual.append(run[position:match.start()])
        form = match.group()
        if form in CHINESE_BEDROOMS and CHINESE[form][0] != "bedroom":
            meanings.append((("bedroom", ""), CHINESE_BEDROOMS[form]))
        meanings.append((CHINESE[form], CHINESE_BEDROOMS.get(form, 1)))
        position = match.end()
    if position < len(run):
        residual.append(run[position:])
    if any(form in run for form in CHINESE_IMPLIED_TWIN):
        meanings.append((("implied_bed", "twin"), 1))
    return meanings, residual


_ACCENTED = re.compile(r"[\u00c0-\u024f]")


def _tokens(name: str) -> list[str]:
    text = unicodedata.normalize("NFKC", name).lower()
    if _ACCENTED.search(text):  # "Supérieure", "Habitación": Latin letters without their accents
        text = "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))
        text = unicodedata.normalize("NFC", text).replace("ß", "ss")
    text = text.replace("b&b", " bnb ").replace("&", " and ").replace("w/", " with ").replace("'", "")
    text = re.sub(r"\bnon[\s\-]+", "non", text)
    text = _BOUNDARY.sub(" | ", _DIGIT_SPLIT.sub(" ", text))
    return _TOKEN.findall(text)


def _resolve_bed(beds: list[tuple[str, int]], beds_counted: int) -> str | None:
    """The bed the words say; a name may say it twice ("Std King 经济大床房"): only a number counts beds."""
    values = {value for value, _ in beds}
    if "flex" in values or (values & set(ONE_BED) and "twin" in values):
        return "flex"
    if "other" in values:
        return "other"
    if "twin" in values or beds_counted >= 2 or any(count >= 2 for value, count in beds if value != "twin"):
        return "twin"
    sized = values & {"king", "queen"}
    if len(sized) == 1:
        return sized.pop()
    if sized or "double" in values:
        return "double"
    return "single" if "single" in values else None


@lru_cache(maxsize=262144)
def parse_room(name: str) -> RoomParse:
    kind, tier, junior = "room", None, False
    view, subtype, bedrooms, smoking, implied_bed = None, None, None, None, None
    features: set[str] = set()
    beds: list[tuple[str, int]] = []
    beds_counted = 0
    recognised = False
    meanings: list[tuple[Meaning, int]] = []
    residual: list[str] = []
    english: list[str] = []
    corrections = 0
    for token in [*_tokens(name), "|"]:
        if token != "|" and not _HAN.match(token):
            english.append(token)
            continue
        if english:  # a run of English words ends at Chinese (or at the end)
            found, rest, fixed = _english_meanings(english)
            meanings += found
            residual += rest
            corrections += fixed
            english = []
        if token != "|":
            found, rest = _chinese_meanings(token)
            meanings += found
            residual += rest
    for (field, value), count in meanings:
        if field == "kind":
            recognised = True
            if KIND_RANK[value] > KIND_RANK[kind]:
                kind = value
        elif field == "junior":
            junior = True
        elif field == "tier":
            recognised = True
            if tier is None or TIER_RANK[value] > TIER_RANK[tier]:
                tier = value
        elif field == "bed":
            recognised = True
            beds.append((value, count))
        elif field == "beds":
            beds_counted = max(beds_counted, count)
        elif field == "implied_bed":
            implied_bed = value
        elif field == "bedroom":
            bedrooms = count
        elif field == "view":
            if view is None or value == "partial_sea":
                view = value
        elif field == "feature":
            features.add(value)
        elif field == "subtype":
            recognised = True
            subtype = subtype or value
        elif field == "smoking":
            smoking = smoking if smoking == "non" else value
    if junior and kind in ("room", "suite"):
        kind = "junior_suite"
        recognised = True
    if subtype == "penthouse" and kind == "room":
        kind = "suite"
    if subtype in ("japanese", "dorm", "roh") and kind == "room":
        kind = "other"
    bed = "other" if subtype == "dorm" else _resolve_bed(beds, beds_counted) or implied_bed
    if bed is not None:
        recognised = True
    return RoomParse(kind, tier, bed, view, frozenset(features), subtype, bedrooms, smoking, tuple(residual),
                     corrections, recognised)


_KIND_NAMES = {"room": "Room", "suite": "Suite", "junior_suite": "Junior Suite", "family": "Family Room",
               "studio": "Studio", "apartment": "Apartment", "villa": "Villa", "other": "Room"}
_SUBTYPE_NAMES = {"roh": "Run of House", "japanese": "Japanese-Style", "dorm": "Shared Dormitory"}
_BED_NAMES = {"king": "King", "queen": "Queen", "double": "Double", "twin": "Twin", "single": "Single",
              "other": "Multi-Bed", "flex": "Double or Twin"}
_VIEW_NAMES = {"partial_sea": "Partial Sea View", "harbour": "Harbour View"}
_NUMBER_NAMES = {1: "One", 2: "Two", 3: "Three", 4: "Four"}


def english_name(kind: str, tier: str | None, bed: str | None, view: str | None, features: frozenset[str],
                 subtype: str | None, bedrooms: int | None) -> str:
    """The normalised English name partners see: "Deluxe King Room, Sea View", "Two-Bedroom Apartment"."""
    words: list[str] = []
    if bedrooms and kind in ("suite", "apartment", "villa", "family"):
        words.append(f"{_NUMBER_NAMES.get(bedrooms, str(bedrooms))}-Bedroom")
    if tier and not (tier == "standard" and kind != "room"):
        words.append(tier.title())
    elif kind == "room" and subtype is None:
        words.append("Standard")
    if subtype:
        words.append(_SUBTYPE_NAMES.get(subtype, subtype.title()))
    if bed and kind in ("room", "other", "family", "junior_suite", "suite", "studio"):
        words.append(_BED_NAMES[bed])
    words.append(_KIND_NAMES[kind] if subtype != "dorm" else "")
    extras = [_VIEW_NAMES.get(view, f"{view.title()} View")] if view else []
    extras += [{"windowless": "No Window", "jacuzzi": "Jacuzzi", "shared_bath": "Shared Bathroom"}.get(f, f.title())
               for f in sorted(features)]
    return ", ".join([" ".join(w for w in words if w)] + extras)
