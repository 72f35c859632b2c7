"""Person names: multilingual name lists, case-insensitive for columns, cautious in free text.

Names have no checksum, so the evidence is weaker than for cards or IBANs. The lists ship inside
the package (``data/names.txt.gz``, about 440 KiB): the most common first names and surnames of
105 countries from names-dataset, lower-cased, with accent-folded variants, built offline by
``scripts/build_name_lists.py`` (see that file and ``data/NOTICE``). They load once, lazily
(about 0.1 s); nothing is fetched at run time. When the file is absent (a trimmed install), the
English lists of Faker's en_US provider are used if Faker is installed; without either, name
columns are found by their column names only.

The lists are noisy (they come from social-network profiles) and many names are also words:
"Will", "May", "Grace", "Bill", "Paris". Those tokens are *ambiguous* (the file's third section,
plus the stop words below): they never count on their own, only beside an unambiguous name.

* Columns are matched case-insensitively ("łukasz", "WANG WEI"): a value is a name when its
  tokens are known names, at least one of them unambiguous.
* Free text needs capitals: a run of capitalised words with two known names next to each other
  (either order: "Wang Wei", "Priya Sharma"), or a title or salutation before one known name
  ("Frau Schröder", "Dear Okafor"), or a known first name followed by an unknown capitalised
  word that is not a common word ("Chiara Zanetti").
"""

from __future__ import annotations

import functools
import gzip
import re
import unicodedata
from dataclasses import dataclass
from importlib import resources

import numpy as np
import pandas as pd

# Letters of the Latin scripts (Basic Latin to Latin Extended-B): capitals, and all letters.
_UPPER = "".join(chr(c) for c in range(0x41, 0x250) if chr(c).isupper() and chr(c).isalpha())
_LETTER = "".join(chr(c) for c in range(0x41, 0x250) if chr(c).isalpha())
UPPER = "[" + re.escape(_UPPER) + "]"
LETTER = "[" + re.escape(_LETTER) + "]"
LOWER = "[" + re.escape("".join(ch for ch in _LETTER if ch.islower())) + "]"
# Lower-case particles inside names: "Daan van der Berg", "María de la Cruz", "Ahmed bin Said".
PARTICLES = r"(?:van|von|der|den|de|del|della|di|da|das|dos|do|du|la|le|bin|ibn|ben|al|el|y|e)"
# One capitalised name token: "Łukasz", "O'Connor", "Seo-yeon", "Al-Sayed", "al-Rashid".
NAME_TOKEN = rf"(?:(?:al|el)-)?{UPPER}(?:{LETTER}|['’\-](?={LETTER}))*{LOWER}"

_TOKEN = re.compile(NAME_TOKEN)
# A bare house number just before the name (not the tail of an SSN or a phone number).
_HOUSE_NUMBER = re.compile(r"(?:^|[ ,])\d{1,6}[A-Za-z]?,? $")

# Capitalised words that start sentences or address people but are not names themselves.
_STOP_WORDS = (
    "The A An And Or But If In On At To For From With By Of Please Dear Hi Hello Thanks Thank "
    "Mr Mrs Ms Miss Dr Prof Sir Madam Call Contact Email Customer Client Patient Account Card "
    "Order Ticket Note Notes Send Sent Reply Ask Asked Told Said Meet Met Visit My Our Your His "
    "Her Their This That These Those Monday Tuesday Wednesday Thursday Friday Saturday Sunday "
    "January February March April May June July August September October November December "
    "Spoke Applicant Interview Transfer Refund Charge Bank Branch Manager Guarantor Applicant"
)
_STOP = frozenset(w.lower() for w in _STOP_WORDS.split())
# Titles and salutations: the next capitalised word is a name even alone ("Frau Schröder").
TITLES = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "miss",
        "mister",
        "dr",
        "doctor",
        "prof",
        "professor",
        "sir",
        "madam",
        "dear",
        "herr",
        "frau",
        "fräulein",
        "liebe",
        "lieber",
        "monsieur",
        "madame",
        "mademoiselle",
        "mme",
        "mlle",
        "m",
        "cher",
        "chère",
        "señor",
        "señora",
        "señorita",
        "sr",
        "sra",
        "srta",
        "don",
        "doña",
        "estimado",
        "estimada",
        "senhor",
        "senhora",
        "sra",
        "caro",
        "cara",
        "signor",
        "signore",
        "signora",
        "sig",
        "mevrouw",
        "meneer",
        "dhr",
        "mevr",
        "pan",
        "pani",
        "panie",
        "bay",
        "bayan",
        "sayın",
        "shri",
        "smt",
        "sri",
        "mx",
    ]
)
_TITLE_BEFORE = re.compile(r"(?i)(?:^|[^\w.])(" + "|".join(sorted(TITLES)) + r")\.?\s*$")


def fold(word: str) -> str:
    """The accent-folded, lower-case key the data file also holds ("weißmann" → "weissmann")."""
    word = word.lower().replace("ß", "ss").replace("ı", "i").replace("ł", "l").replace("ø", "o")
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@dataclass(frozen=True)
class NameLists:
    """Lower-cased first names, surnames and ambiguous tokens; ``source`` says where from."""

    first: frozenset[str]
    last: frozenset[str]
    ambiguous: frozenset[str]
    source: str

    def kind(self, token: str) -> int:
        """2: an unambiguous known name, 1: a known but ambiguous one, 0: unknown."""
        key = token.lower().replace("’", "'")
        for k in (key, fold(key)):
            if k in self.first or k in self.last:
                return 1 if k in self.ambiguous or k in _STOP else 2
        if "-" in key:  # "seo-yeon", "jean-luc": every part a name
            parts = [self.kind(p) for p in key.split("-") if p]
            if parts and all(parts):
                return min(parts)
        if "'" in key:  # "o'connor", "d'angelo": the part after the apostrophe
            tail = key.rsplit("'", 1)[1]
            return self.kind(tail) if len(tail) > 2 else 0
        return 0


DATA_FILE = "names.txt.gz"


@functools.lru_cache(maxsize=1)
def name_lists() -> NameLists | None:
    """The shipped lists (see the module docstring), else Faker's en_US lists, else None."""
    try:
        raw = resources.files("mlwarden.privacy").joinpath("data", DATA_FILE).read_bytes()
    except (FileNotFoundError, ModuleNotFoundError, OSError):
        return _faker_lists()
    sections: dict[str, list[str]] = {}
    current: list[str] = []
    for line in gzip.decompress(raw).decode("utf-8").split("\n"):
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
        elif line and not line.startswith("#"):
            current.append(line)
    return NameLists(
        frozenset(sections.get("first", ())),
        frozenset(sections.get("last", ())),
        frozenset(sections.get("common", ())) | _STOP | TITLES,
        "names-dataset",
    )


def _faker_lists() -> NameLists | None:
    try:
        from faker.providers.person import en_US
    except ImportError:
        return None
    provider = en_US.Provider
    firsts = set(provider.first_names) | set(getattr(provider, "first_names_female", ()))
    firsts |= set(getattr(provider, "first_names_male", ()))
    return NameLists(
        frozenset(f.lower() for f in firsts),
        frozenset(f.lower() for f in provider.last_names),
        _STOP | TITLES,
        "faker",
    )


@functools.lru_cache(maxsize=1)
def place_words() -> frozenset[str]:
    """Street suffixes and city prefixes, lower-cased ("Maria Circle", "Port Jessica")."""
    words = {"apt", "suite", "unit", "floor", "box", "street", "road", "avenue", "lane", "station"}
    words |= {"strasse", "straße", "platz", "weg", "rue", "calle", "via", "rua", "ulica"}
    try:
        from faker.providers.address import en_US
    except ImportError:
        return frozenset(words)
    provider = en_US.Provider
    for attr in ("street_suffixes", "city_prefixes"):
        words |= {w.lower() for w in getattr(provider, attr, ())}
    return frozenset(words)


_SPLIT = re.compile(r"[\s,]+")
# Company names are made of surnames ("Garcia LLC", "Smith, Jones and Brown"): these words say
# the value names a firm.
_ORGANISATION = frozenset(
    [
        "and",
        "&",
        "und",
        "et",
        "inc",
        "inc.",
        "llc",
        "ltd",
        "ltd.",
        "plc",
        "group",
        "sons",
        "gmbh",
        "ag",
        "sa",
        "spa",
        "srl",
        "bv",
        "nv",
        "co",
        "co.",
        "corp",
        "corporation",
        "company",
        "partners",
        "associates",
        "holdings",
        "bank",
        "limited",
    ]
)
_PARTICLE = re.compile(rf"^{PARTICLES}$", re.IGNORECASE)


def name_value_kind(value: str, lists: NameLists) -> int:
    """A column value (any case) as a person's name: 2 when at least one token is an
    unambiguous known name and at most one token is unknown ("Angela Crosby": a surname outside
    the lists); 1 when its tokens are known but all ambiguous ("rose", "park"); else 0."""
    tokens = [t for t in _SPLIT.split(value.strip().strip(".")) if t and not _PARTICLE.match(t)]
    if not 1 <= len(tokens) <= 5 or any(t.lower() in _ORGANISATION for t in tokens):
        return 0
    kinds = [lists.kind(t.strip(".")) for t in tokens]
    if kinds.count(0) > (1 if len(tokens) >= 2 else 0):
        return 0
    return 2 if 2 in kinds else (1 if all(kinds) else 0)


def is_name_value(value: str, lists: NameLists) -> bool:
    """An unambiguous name value (see :func:`name_value_kind`)."""
    return name_value_kind(value, lists) == 2


def person_values(s: pd.Series) -> np.ndarray:
    """For column values, case-insensitively: unambiguous names, and ambiguous ones ("Park",
    "Rose") too when most values of the column are unambiguous names (names among names)."""
    lists = name_lists()
    if lists is None:
        return np.ones(len(s), dtype=bool)
    # each distinct value is looked up once: a column repeats its names
    codes, distinct = pd.factorize(s, use_na_sentinel=False)
    kinds = np.fromiter(
        (name_value_kind(v, lists) for v in distinct), dtype=np.int8, count=len(distinct)
    )[codes]
    if len(kinds) and np.mean(kinds == 2) >= 0.5:
        return kinds >= 1
    return kinds == 2


def person_in_text(candidate: str, before: str = "") -> tuple[int, int, float] | None:
    """Best name inside a run of capitalised words: (start, end, score) relative to it.

    "Contact Maria Garcia" yields "Maria Garcia". A span is the longest stretch of known names
    around an unambiguous one: two or more known names (0.85; 0.7 when only one of them is
    unambiguous: "Will Smith"); one unambiguous name after a title (0.85: "Herr Weißmann"); a
    known first name before an unknown capitalised word that is neither a common word nor a
    street suffix (0.6: "Debra Ramp" is a street; a first name alone is too weak).
    """
    lists = name_lists()
    if lists is None:
        return None
    toks = [(m.start(), m.end(), m.group()) for m in _TOKEN.finditer(candidate)]
    kinds = [lists.kind(t[2]) for t in toks]
    best: tuple[int, int, float] | None = None
    i = 0
    while i < len(toks):
        if kinds[i] == 0:
            i += 1
            continue
        j = i
        while j + 1 < len(toks) and kinds[j + 1] and _adjacent(candidate, toks[j], toks[j + 1]):
            j += 1
        # drop ambiguous words at the edges that are stop words ("Met Nguyen", "Dear Ana")
        while i < j and toks[i][2].lower() in _STOP | TITLES:
            i += 1
        span_kinds = kinds[i : j + 1]
        prefix = candidate[: toks[i][0]]
        titled = _TITLE_BEFORE.search(before + " " + prefix if prefix else before) is not None
        score = 0.0
        if toks[i][0] == 0 and _HOUSE_NUMBER.search(before):
            score = 0.0  # "2645 Matthew Fields Suite 770": a street named after someone
        elif len(span_kinds) >= 2 and span_kinds.count(2) >= 2:
            score = 0.85
        elif len(span_kinds) >= 2 and 2 in span_kinds:
            score = 0.85 if titled else 0.7
        elif span_kinds == [2] and titled:
            score = 0.85
        elif span_kinds == [2] and toks[i][2].lower() in lists.first and j + 1 < len(toks):
            nxt = toks[j + 1][2].lower()
            if (
                _adjacent(candidate, toks[j], toks[j + 1])
                and nxt not in lists.ambiguous
                and nxt not in place_words()
            ):
                score, j = 0.6, j + 1
        if score and (best is None or score > best[2]):
            best = (toks[i][0], toks[j][1], score)
        i = j + 1
    return best


def _adjacent(text: str, a: tuple[int, int, str], b: tuple[int, int, str]) -> bool:
    """Tokens separated by spaces and lower-case particles only ("Daan van der Berg")."""
    gap = text[a[1] : b[0]].split()
    return text[a[1] : b[0]].strip(" ") == "" or all(_PARTICLE.match(g) for g in gap)
