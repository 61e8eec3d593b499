"""Text normalisation for hotel names, addresses and cities, in any script.

Steps: NFKC, case-fold, local hotel words translated to English (酒店 → hotel, 国际 → international),
Han characters transliterated to toneless pinyin (pypinyin), every other script to ASCII (anyascii),
punctuation to spaces, abbreviations expanded (Intl → international, Htl → hotel, St → street).
Pinyin comes one syllable per character; syllable runs are joined greedily into words that the
catalog's own vocabulary knows ("shang hai pu dong" → "shanghai pudong"), so a Chinese name and its
English spelling end up as the same tokens.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

from anyascii import anyascii
from pypinyin import Style, lazy_pinyin

# Hotel words in Chinese (and a few in Japanese/Korean) with their English counterpart; longest first.
LOCAL_WORDS: dict[str, str] = {
    "大酒店": " grand hotel ", "大饭店": " grand hotel ", "酒店": " hotel ", "饭店": " hotel ", "宾馆": " hotel ",
    "旅馆": " hotel ", "旅店": " hotel ", "大厦": " tower ", "国际": " international ", "公寓": " apartments ",
    "度假村": " resort ", "度假酒店": " resort hotel ", "公寓酒店": " apartments hotel ", "客栈": " inn ",
    "花园": " garden ", "广场": " plaza ",
    "中心": " center ", "快捷": " express ", "精选": " select ", "套房": " suites ", "机场": " airport ",
    "火车站": " railway station ", "大道": " avenue ", "东路": " road east ", "西路": " road west ",
    "南路": " road south ", "北路": " road north ", "中路": " road middle ", "路": " road ", "街": " street ",
    "巷": " lane ", "号": " ", "区": " district ", "市": " ", "省": " ",
    "希尔顿": " hilton ", "万豪": " marriott ", "喜来登": " sheraton ", "洲际": " intercontinental ",
    "皇冠假日": " crowne plaza ", "智选假日": " holiday inn express ", "假日": " holiday inn ", "凯悦": " hyatt ",
    "香格里拉": " shangrila ", "威斯汀": " westin ", "丽思卡尔顿": " ritz carlton ", "锦江之星": " jinjiang inn ",
    "如家": " home inn ", "汉庭": " hanting ", "全季": " ji hotel ", "亚朵": " atour ",
    "诺富特": " novotel ", "宜必思": " ibis ", "美居": " mercure ", "铂尔曼": " pullman ", "索菲特": " sofitel ",
    "艾美": " le meridien ", "福朋": " four points ", "万怡": " courtyard ", "格林豪泰": " greentree ",
    "维也纳": " vienna ", "丽笙": " radisson ", "温德姆": " wyndham ", "君悦": " grand hyatt ", "柏悦": " park hyatt ",
    "半岛": " peninsula ", "文华东方": " mandarin oriental ", "四季": " four seasons ", "瑞吉": " st regis ",
    "万丽": " renaissance ", "万枫": " fairfield ", "希尔顿逸林": " doubletree ", "希尔顿欢朋": " hampton ",
    "希尔顿花园": " hilton garden inn ", "康莱德": " conrad ", "英迪格": " indigo ", "凯悦嘉寓": " hyatt place ",
    "东横": " toyoko ", "多米": " dormy ", "城市便捷": " city comfort inn ", "桔子": " orange ",
    "ホテル": " hotel ", "호텔": " hotel ", "旅館": " ryokan ", "店": " ", "站": " station ",
}
LOCAL_WORDS.update({"精品": " boutique ", "商务": " business ", "主题": " theme ", "青年旅舍": " hostel "})
_LOCAL_RE = re.compile("|".join(sorted(map(re.escape, LOCAL_WORDS), key=len, reverse=True)))

ABBREVIATIONS: dict[str, str] = {
    "intl": "international", "int'l": "international", "htl": "hotel", "hotl": "hotel", "st": "street",
    "str": "street", "rd": "road", "ave": "avenue", "av": "avenue", "blvd": "boulevard", "dr": "drive",
    "ln": "lane", "sq": "square", "pl": "place", "ctr": "center", "centre": "center", "apts": "apartments",
    "apt": "apartments", "appartements": "apartments", "ste": "suites", "no": "", "nr": "",
    "hwy": "highway", "rm": "room", "fl": "floor",
    "dist": "district", "ht": "hotel", "grp": "group", "mt": "mount", "ft": "fort", "stn": "station",
    "hotels": "hotel", "suite": "suites", "apartment": "apartments", "residences": "residence",
    "&": "and", "theatre": "theater", "dtwn": "downtown", "arpt": "airport", "rly": "railway",
    # pinyin hotel words as suppliers write them ("Silu Zhuyuan Dujia Jiudian")
    "jiudian": "hotel", "fandian": "hotel", "binguan": "hotel", "lvguan": "hotel", "dajiudian": "grand hotel",
    "dafandian": "grand hotel", "kezhan": "inn", "gongyu": "apartments", "dujia": "resort", "lu": "road",
    "jie": "street", "dadao": "avenue", "qu": "district",
}


def _pinyin_words() -> dict[str, str]:
    """The same hotel words as suppliers spell them in pinyin ("guangchang" → plaza), 2+ characters only."""
    words = {}
    for local, english in LOCAL_WORDS.items():
        if len(local) >= 2 and all("\u4e00" <= c <= "\u9fff" for c in local):
            words["".join(lazy_pinyin(local, style=Style.NORMAL))] = english.strip()
    return words


ABBREVIATIONS.update({k: v for k, v in _pinyin_words().items() if k not in ABBREVIATIONS})
_EXPANSIONS = {short: tuple(long.split()) for short, long in ABBREVIATIONS.items()}

# Words that say what a place is, not which one: ignored when comparing the distinguishing words.
GENERIC_WORDS = frozenset({
    "hotel", "inn", "resort", "suites", "apartments", "hostel", "motel", "the", "and", "by", "at", "of", "de",
    "la", "le", "el", "del", "du", "des", "da", "di", "spa", "residence", "lodge", "guesthouse", "boutique",
    "collection", "express", "city", "center", "international", "grand", "select", "a", "an", "in", "on",
    "street", "road", "avenue", "district", "ryokan", "jiudian", "fandian", "binguan",
})

# Chain and brand words: shared by siblings, so they never tell two hotels apart.
BRAND_WORDS = frozenset({
    "hilton", "marriott", "sheraton", "intercontinental", "crowne", "plaza", "holiday", "hyatt", "shangrila",
    "westin", "ritz", "carlton", "home", "hanting", "ji", "atour", "novotel", "ibis", "mercure",
    "pullman", "sofitel", "meridien", "four", "points", "courtyard", "greentree", "vienna", "radisson", "blu",
    "wyndham", "park", "peninsula", "mandarin", "oriental", "seasons", "regis", "doubletree", "hampton",
    "embassy", "renaissance", "kempinski", "accor", "ramada", "best", "western", "premier", "travelodge",
    "days", "super", "comfort", "quality", "campanile", "kyriad", "moxy", "aloft", "w", "fairmont", "swissotel",
    "raffles", "conrad", "waldorf", "astoria", "langham", "jw", "edition", "andaz", "hotel", "indigo",
    "citadines", "ascott", "somerset", "fraser", "toyoko", "apa", "dormy", "lotte", "shilla",
    "fairfield", "regency", "orange",
})

_NOT_CORE = GENERIC_WORDS | BRAND_WORDS
_SPLIT_RE = re.compile(r"[^\w·]+")
_HAN_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_HAN_RUN_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_NON_ASCII_RE = re.compile(r"[^\x00-\x7f]")
_OTHER_SCRIPT_RE = re.compile(r"[^\x00-\x7f·]+")
_DIGITS_RE = re.compile(r"\d+")


@lru_cache(maxsize=65536)
def _han_run(run: str) -> str:
    # the whole run at once: pypinyin's phrase table reads 成都 as "cheng du", not "cheng dou"
    return " " + " ".join("·" + syllable for syllable in lazy_pinyin(run, style=Style.NORMAL)) + " "


def _transliterate(text: str) -> tuple[str, bool]:
    """ASCII text; Han characters become space-separated pinyin syllables marked with a leading '·'."""
    if not _NON_ASCII_RE.search(text):
        return text, False
    text = _LOCAL_RE.sub(lambda m: LOCAL_WORDS[m.group(0)], text)
    had_han = bool(_HAN_RUN_RE.search(text))
    if had_han:
        text = _HAN_RUN_RE.sub(lambda m: _han_run(m.group(0)), text)
    return _OTHER_SCRIPT_RE.sub(lambda m: anyascii(m.group(0)), text), had_han


def _join_syllables(tokens: list[str], vocabulary: frozenset[str] | set[str]) -> list[str]:
    """Join runs of pinyin syllables ('·shang', '·hai') into words the vocabulary knows ('shanghai')."""
    result: list[str] = []
    run: list[str] = []

    def flush() -> None:
        i = 0
        while i < len(run):
            for j in range(min(len(run), i + 5), i + 1, -1):
                word = "".join(run[i:j])
                if word in vocabulary:
                    result.append(word)
                    i = j
                    break
            else:
                # unknown: keep joining with the next syllable as one word (place names are 2 syllables)
                if i + 1 < len(run):
                    result.append(run[i] + run[i + 1])
                    i += 2
                else:
                    result.append(run[i])
                    i += 1
        run.clear()

    for token in tokens:
        if token.startswith("·"):
            run.append(token[1:])
        else:
            flush()
            result.append(token)
    flush()
    return result


def tokens(text: str | None, vocabulary: frozenset[str] | set[str] = frozenset()) -> list[str]:
    """Normalised tokens of a name or address, in order."""
    if not text:
        return []
    if text.isascii():
        text, had_han = text.lower(), False  # NFKC and case-folding turn ASCII into its lower case, no more
    else:
        text, had_han = _transliterate(unicodedata.normalize("NFKC", text).casefold())
        if not text.isascii():
            text = unicodedata.normalize("NFKD", text)
            text = "".join(c for c in text if not unicodedata.combining(c))
    text = text.replace("'", "").replace("-", "")  # shangri-la, int'l
    words = [word for token in _SPLIT_RE.split(text.replace("_", " ")) if token
             for word in _EXPANSIONS.get(token, (token,))]
    return _join_syllables(words, vocabulary) if had_han else words


def vocabulary_of(texts: Iterable[str | None], cache: dict[str, list[str]] | None = None) -> set[str]:
    """Latin words of a corpus, for joining pinyin syllables into known words. Fills `cache` with the
    tokens of every text read (they do not depend on the vocabulary: no Han characters in them)."""
    vocab: set[str] = set()
    for text in texts:
        if text and not _HAN_RE.search(text):
            words = tokens(text)
            if cache is not None:
                cache[text] = words
            vocab.update(t for t in words if len(t) > 2 and not t.isdigit())
    return vocab


def core_tokens(name_tokens: Iterable[str], city_tokens: Iterable[str] = ()) -> tuple[str, ...]:
    """The words that tell one hotel from its siblings, in order: no chain, generic or city words, no numbers."""
    city = set(city_tokens)
    return tuple(dict.fromkeys(t for t in name_tokens
                               if t not in _NOT_CORE and t not in city and len(t) > 1 and not t.isdigit()))


def numbers(tokens_: Iterable[str]) -> frozenset[str]:
    """Numbers standing alone in a name or address (house numbers; "5th" is a street name, not one)."""
    return frozenset(t for t in tokens_ if t.isdigit())


def compact(tokens_: Iterable[str]) -> str:
    return "".join(tokens_)
