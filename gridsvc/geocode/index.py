"""The in-memory index of one geocoder build and the matching (rapidfuzz over keys).

A query is split (:func:`gridsvc.geocode.normalise.parse`) into a street or name, a house
number, a postcode and towns. With a house number, the street is matched fuzzily against
the streets that carry addresses or are named ways, then the number is looked up on it:
the exact house, else the nearest number on the same street, else a point of the street.
Without one, the text is matched against POIs, streets, places and division names.

Confidence (0..1) is the name similarity (squared) times what the point stands for (the house: 1,
the nearest house number: 0.75, a point of the street: 0.7, ...) times the agreement of
the towns (a town the entry does not lie in: 0.75). When two places far apart are about
equally good and nothing in the query tells them apart, both lose (x0.7): an operator
must choose.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from rapidfuzz import fuzz, process

from gridsvc.geocode.models import Candidate, Entry
from gridsvc.geocode.normalise import Parsed, Vocabulary, housenumber_key, key, parse, vocabulary_of

# What the point of each kind stands for when the name alone was given.
# A place or division is an area: its point may lie in another grid than the event.
_NAME_ONLY_WEIGHT = {"poi": 1.0, "address": 1.0, "street": 0.75, "place": 0.7, "division": 0.5}
NEAREST_NUMBER_WEIGHT = 0.75
STREET_POINT_WEIGHT = 0.7
TOWN_MISMATCH = 0.75
AMBIGUOUS = 0.7
AMBIGUOUS_DISTANCE_M = 250.0
_STREET_CUTOFF = 60.0
_NAME_CUTOFF = 55.0


@dataclass
class _Street:
    addresses: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    ways: list[int] = field(default_factory=list)


def distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance of two (lng, lat) points, metres (haversine)."""
    lng1, lat1, lng2, lat2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lng2 - lng1) / 2) ** 2
    return 2 * 6_371_008.8 * math.asin(math.sqrt(h))


def _sharpen(score: float) -> float:
    """rapidfuzz's 0..100 as 0..1, squared: a near miss of a name ("Triesen" in "Triesen
    Post", 79) must not look almost as good as the name itself."""
    return (score / 100.0) ** 2


def _number_value(number: str) -> int:
    digits = "".join(c for c in number if c.isdigit())
    return int(digits) if digits else 0


class GeocodeIndex:
    """Entries of one build, keyed for matching. Built once per process and build."""

    def __init__(self, build_id: int, entries: Sequence[Entry]) -> None:
        self.build_id = build_id
        self.entries = list(entries)
        self.town_keys = [frozenset(key(t) for t in e.towns) for e in self.entries]
        self.streets: dict[str, _Street] = defaultdict(_Street)
        self.names: dict[str, list[int]] = defaultdict(list)
        towns: set[str] = set()
        postcodes: set[str] = set()
        for i, entry in enumerate(self.entries):
            towns.update(entry.towns)
            if entry.postcode:
                postcodes.add(entry.postcode.strip())
            if entry.kind == "address" and entry.street and entry.housenumber:
                self.streets[key(entry.street)].addresses[housenumber_key(entry.housenumber)].append(i)
                continue
            if entry.kind == "street":
                self.streets[key(entry.name)].ways.append(i)
            if entry.kind == "division":
                towns.add(entry.name)
            self.names[key(entry.name)].append(i)
        self.streets.pop("", None)
        self.names.pop("", None)
        self.street_keys = list(self.streets)
        self.name_keys = list(self.names)
        self.vocabulary: Vocabulary = vocabulary_of(towns, postcodes)

    # -- matching ----------------------------------------------------------------------

    def search(self, query: str, *, limit: int = 5) -> list[Candidate]:
        """Candidates for a typed address, best first (at most ``limit``)."""
        parsed = parse(query, self.vocabulary)
        text_key = key(parsed.text)
        found: list[Candidate] = []
        if parsed.housenumber and text_key:
            found = self._with_number(parsed, text_key)
        if not found and text_key:
            found = self._by_name(parsed, text_key)
            # The town may be part of the name ("Schloss Vaduz", "Triesen Post").
            whole = key(parsed.with_towns)
            if parsed.towns and whole != text_key:
                found += self._by_name(parsed, whole)
        if not found and parsed.towns:
            found = self._by_name(parsed, parsed.towns[0])
        return _rank(found, limit)

    def _town_factor(self, i: int, parsed: Parsed) -> float:
        if not parsed.towns:
            return 1.0
        entry = self.entries[i]
        if self.town_keys[i] & set(parsed.towns):
            return 1.0
        if parsed.postcode and entry.postcode and entry.postcode.strip() == parsed.postcode:
            return 1.0
        return TOWN_MISMATCH

    def _candidate(self, i: int, parsed: Parsed, confidence: float, precision: str) -> Candidate:
        entry = self.entries[i]
        town = next(
            (t for t in entry.towns if key(t) in parsed.towns), entry.towns[0] if entry.towns else None
        )
        text = entry.name if not town or town == entry.name else f"{entry.name}, {town}"
        return Candidate(
            text=text,
            kind=entry.kind,
            lng=entry.lng,
            lat=entry.lat,
            confidence=round(min(max(confidence, 0.0), 1.0), 3),
            precision=precision,  # type: ignore[arg-type]
            town=town,
            osm_id=entry.osm_id,
            jurisdiction=entry.jurisdiction,
        )

    def _with_number(self, parsed: Parsed, text_key: str) -> list[Candidate]:
        assert parsed.housenumber is not None
        number = housenumber_key(parsed.housenumber)
        matches = process.extract(
            text_key, self.street_keys, scorer=fuzz.ratio, limit=4, score_cutoff=_STREET_CUTOFF
        )
        found: list[Candidate] = []
        for street_key, score, _ in matches:
            similarity = _sharpen(score)
            street = self.streets[street_key]
            for i in street.addresses.get(number, []):
                found.append(self._candidate(i, parsed, similarity * self._town_factor(i, parsed), "address"))
            if street.addresses.get(number):
                continue
            found.extend(self._near_number(street, parsed, number, similarity))
        return found

    def _near_number(
        self, street: _Street, parsed: Parsed, number: str, similarity: float
    ) -> list[Candidate]:
        """The house with the nearest number on the street (per town), else a point of it."""
        wanted = _number_value(number)
        best: dict[frozenset[str], tuple[int, int]] = {}
        for house, indexes in street.addresses.items():
            gap = abs(_number_value(house) - wanted)
            for i in indexes:
                town = self.town_keys[i]
                if town not in best or gap < best[town][0]:
                    best[town] = (gap, i)
        found = []
        for gap, i in best.values():
            # The further the nearest number, the less the point says about the house.
            weight = NEAREST_NUMBER_WEIGHT * (1.0 if gap <= 2 else 0.93)
            confidence = similarity * weight * self._town_factor(i, parsed)
            found.append(self._candidate(i, parsed, confidence, "street"))
        if not found:
            for i in self._one_way_per_town(street.ways):
                confidence = similarity * STREET_POINT_WEIGHT * self._town_factor(i, parsed)
                found.append(self._candidate(i, parsed, confidence, "street"))
        return found

    def _one_way_per_town(self, ways: list[int]) -> list[int]:
        """A street is many ways: one of them per town stands for it (the middle one)."""
        by_town: dict[frozenset[str], list[int]] = defaultdict(list)
        for i in ways:
            by_town[self.town_keys[i]].append(i)
        return [group[len(group) // 2] for group in by_town.values()]

    def _by_name(self, parsed: Parsed, text_key: str) -> list[Candidate]:
        matches = process.extract(
            text_key, self.name_keys, scorer=fuzz.ratio, limit=8, score_cutoff=_NAME_CUTOFF
        )
        found = []
        for name_key, score, _ in matches:
            streets = [i for i in self.names[name_key] if self.entries[i].kind == "street"]
            others = [i for i in self.names[name_key] if self.entries[i].kind != "street"]
            for i in others + self._one_way_per_town(streets):
                entry = self.entries[i]
                weight = _NAME_ONLY_WEIGHT[entry.kind]
                by_county = (entry.osm_id or "").startswith("adcode:")
                if by_county:
                    weight = 0.4  # a division name known only to its county
                confidence = _sharpen(score) * weight * self._town_factor(i, parsed)
                precision = "county" if by_county else entry.kind
                found.append(self._candidate(i, parsed, confidence, precision))
        return found


def _rank(found: list[Candidate], limit: int) -> list[Candidate]:
    """Best first, one candidate per place (within 30 m and the same text), and the
    ambiguity rule: equally good places far apart all lose confidence."""
    found.sort(key=lambda c: -c.confidence)
    kept: list[Candidate] = []
    for candidate in found:
        point = (candidate.lng, candidate.lat)
        if any(k.text == candidate.text and distance_m(point, (k.lng, k.lat)) < 30 for k in kept):
            continue
        kept.append(candidate)
    if len(kept) >= 2:
        best, runner = kept[0], kept[1]
        close = runner.confidence >= best.confidence - 0.05
        if close and distance_m((best.lng, best.lat), (runner.lng, runner.lat)) > AMBIGUOUS_DISTANCE_M:
            for candidate in kept:
                if candidate.confidence >= best.confidence - 0.05:
                    candidate.confidence = round(candidate.confidence * AMBIGUOUS, 3)
            kept.sort(key=lambda c: -c.confidence)
    return kept[:limit]
