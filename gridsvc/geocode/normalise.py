"""How addresses are written, reduced to comparable keys, and how a typed address is split.

12345 operators type addresses in many ways: full-width digits (１２号), 号/號 after the
number, Str./Strasse/Straße, with or without spaces ("Josef Murr Weg" / "Josef-Murr-Weg"),
a leading country, city or postcode ("列支敦士登 Vaduz Städtle 12号", "Städtle 12, 9490
Vaduz", "深圳市龙岗区龙翔大道2001号"). Data and queries go through the same :func:`key`, so
that spelling differences vanish before the fuzzy comparison (rapidfuzz) sees them.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

# Country names (and their usual prefixes) that say nothing about where in the county.
_COUNTRIES = (
    "中华人民共和国",
    "中国",
    "列支敦士登公国",
    "列支敦士登",
    "fürstentum liechtenstein",
    "furstentum liechtenstein",
    "liechtenstein",
    "china",
)
# Chinese administrative prefixes above the township ("广东省深圳市龙岗区"): dropped from the
# front of a query unless they name a known town (then they are the town hint).
_CN_ADMIN_PREFIX = re.compile(r"^[\u4e00-\u9fff]{2,8}?(?:省|自治区|特别行政区|市|自治州|地区|盟|区|县|旗)")
# A Chinese city, district or county (addr:city is usually 深圳市) covers the whole extract:
# removed from the query like a country, but no hint of where in it.
_COARSE = re.compile(r"[\u4e00-\u9fff](?:省|自治区|市|自治州|地区|区|县)$")
_STREET_SUFFIXES = (
    (re.compile(r"str\.?(?=[\s,;-]|$)"), "strasse"),  # Str. / str -> strasse
    (re.compile(r"g\.(?=[\s,;]|$)"), "gasse"),
)
# After folding umlauts both "Städtle" and "Staedtle" become "stadtle".
_UMLAUT_DIGRAPHS = (("ae", "a"), ("oe", "o"), ("ue", "u"))
_NUMBER_MARK = re.compile(r"(\d+)\s*([a-z])?\s*[号號]")
_NUMBER = re.compile(r"(?<![a-z0-9])(\d+)\s?([a-z])?(?![a-z0-9])")
# "Landstrasse19": a number typed without its space, glued to the street name.
_GLUED_NUMBER = re.compile(r"(?<=[^\W\d])(\d+)([a-z])?(?![a-z0-9])")
_CJK = re.compile(r"[\u4e00-\u9fff]")
_SEPARATORS = re.compile(r"[\s,，、;；:：/()（）\[\]【】\"'“”‘’·.。-]+")


def plain(text: str) -> str:
    """NFKC (full-width digits, letters and spaces to ASCII), lower case, ß -> ss, 號 -> 号,
    spaces collapsed."""
    text = unicodedata.normalize("NFKC", text).casefold().replace("號", "号")
    return re.sub(r"\s+", " ", text).strip()


def fold(text: str) -> str:
    """Latin diacritics dropped (ä -> a, é -> e); CJK untouched."""
    decomposed = unicodedata.normalize("NFKD", text)
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if not unicodedata.combining(c)))


def key(text: str) -> str:
    """The comparison key of a name: plain, suffixes expanded, diacritics and umlaut digraphs
    folded, every space, hyphen and punctuation mark removed.

    >>> key("Josef-Murr-Weg") == key("Josef Murr Weg") == key("josefmurrweg")
    True
    >>> key("Zollstr.") == key("Zollstraße") == key("Zoll Strasse")
    True
    """
    text = plain(text)
    for pattern, replacement in _STREET_SUFFIXES:
        text = pattern.sub(replacement, text)
    text = fold(text)
    text = _SEPARATORS.sub("", text)
    for digraph, letter in _UMLAUT_DIGRAPHS:
        text = text.replace(digraph, letter)
    return text


def housenumber_key(number: str) -> str:
    """``12``, ``12a``, ``１２号``, ``12 A`` -> ``12`` / ``12a``."""
    text = plain(number).replace("号", "").replace(" ", "")
    match = re.match(r"(\d+)([a-z]?)", text)
    return f"{match.group(1)}{match.group(2)}" if match else text


def has_cjk(text: str) -> bool:
    return bool(_CJK.search(text))


@dataclass(frozen=True)
class Parsed:
    """A typed address split into its parts (each already :func:`plain`)."""

    text: str  # what is left: the street, POI or place name
    housenumber: str | None
    postcode: str | None
    towns: tuple[str, ...]  # town keys named in the query
    with_towns: str = ""  # the text with the town names left in


@dataclass(frozen=True)
class Vocabulary:
    """What the index knows, for splitting queries: town names (by key, with their plain
    spellings) and postcodes."""

    towns: dict[str, str]  # plain spelling -> town key
    postcodes: frozenset[str]


def _strip_country(text: str) -> str:
    changed = True
    while changed:
        changed = False
        for country in _COUNTRIES:
            if text.startswith(country):
                text = text[len(country) :].lstrip(" ,，、")
                changed = True
    return text


def _take_postcode(text: str, postcodes: frozenset[str]) -> tuple[str, str | None]:
    for match in re.finditer(r"(?<![\w-])(?:(?:fl|li|ch|cn)-)?(\d{4,6})(?![\w])", text):
        code = match.group(1)
        if code in postcodes or len(code) == 6:
            return text[: match.start()] + " " + text[match.end() :], code
    return text, None


def _take_towns(text: str, vocabulary: Vocabulary) -> tuple[str, list[str]]:
    """Remove the town names the text contains (whole words in Latin script, anywhere in
    Chinese), longest first; keep them as hints. A name is kept in the text when removing
    it would leave nothing (then it is what is sought, e.g. a village)."""
    found: list[str] = []
    for spelling in sorted(vocabulary.towns, key=len, reverse=True):
        if has_cjk(spelling):
            position = text.find(spelling)
            end = position + len(spelling)
        else:
            match = re.search(rf"(?<![\w-]){re.escape(spelling)}(?![\w-])", text)
            position, end = (match.start(), match.end()) if match else (-1, -1)
        if position < 0:
            continue
        rest = (text[:position] + " " + text[end:]).strip(" ,，、")
        if not _SEPARATORS.sub("", re.sub(r"\d+\s*[a-z]?\s*号?", "", rest)):
            continue
        if not _COARSE.search(spelling):
            found.append(vocabulary.towns[spelling])
        text = text[:position] + " " + text[end:]
    return text, found


def _take_housenumber(text: str) -> tuple[str, str | None]:
    marked = list(_NUMBER_MARK.finditer(text))
    match = marked[-1] if marked else None
    if match is None:
        numbers = list(_NUMBER.finditer(text)) or list(_GLUED_NUMBER.finditer(text))
        match = numbers[-1] if numbers else None
    if match is None:
        return text, None
    number = match.group(1) + (match.group(2) or "")
    return text[: match.start()] + " " + text[match.end() :], number


def parse(query: str, vocabulary: Vocabulary) -> Parsed:
    """Split a typed address into street/name text, house number, postcode and towns."""
    text = _strip_country(plain(query))
    text, postcode = _take_postcode(text, vocabulary.postcodes)
    with_towns, _ = _take_housenumber(text)
    text, towns = _take_towns(text, vocabulary)
    # Provinces, cities, districts the index does not know (深圳市龙岗区) only say "China".
    while has_cjk(text):
        head = _CN_ADMIN_PREFIX.match(text.strip())
        if head is None or not text.strip()[head.end() :].strip():
            break
        text = text.strip()[head.end() :]
    text, housenumber = _take_housenumber(text)
    text = re.sub(r"\s+", " ", _SEPARATORS.sub(" ", text)).strip()
    return Parsed(
        text=text,
        housenumber=housenumber,
        postcode=postcode,
        towns=tuple(dict.fromkeys(towns)),
        with_towns=with_towns,
    )


def vocabulary_of(town_names: Iterable[str], postcodes: Iterable[str]) -> Vocabulary:
    towns = {}
    for name in town_names:
        spelling = plain(name)
        if len(spelling) >= 2:
            towns[spelling] = key(name)
            folded = fold(spelling)
            towns.setdefault(folded, key(name))
    return Vocabulary(towns=towns, postcodes=frozenset(postcodes))
