"""Person names: column-name hints plus value heuristics backed by Faker's name lists.

Names have no checksum, so the evidence is weaker than for cards or IBANs. When Faker is
installed its en_US provider ships about 700 first names and 1,000 surnames inside the package
(no network); we read them at first use. Without Faker the scanner still finds name columns by
their column names, and capitalised-token values add only a little confidence.
"""

from __future__ import annotations

import functools
import re

import numpy as np
import pandas as pd

_TOKEN = re.compile(r"[A-Z][A-Za-z'\-]*[a-z]")
# A bare house number just before the name (not the tail of an SSN or a phone number).
_HOUSE_NUMBER = re.compile(r"(?:^|[ ,])\d{1,6}[A-Za-z]?,? $")

# Capitalised words that start sentences or address people but are not names themselves.
_STOP_WORDS = (
    "The A An And Or But If In On At To For From With By Of Please Dear Hi Hello Thanks Thank "
    "Mr Mrs Ms Miss Dr Prof Sir Madam Call Contact Email Customer Client Patient Account Card "
    "Order Ticket Note Notes Send Sent Reply Ask Asked Told Said Meet Met Visit My Our Your His "
    "Her Their This That These Those Monday Tuesday Wednesday Thursday Friday Saturday Sunday "
    "January February March April May June July August September October November December"
)
_STOP = frozenset(_STOP_WORDS.split())


@functools.lru_cache(maxsize=1)
def name_lists() -> tuple[frozenset[str], frozenset[str]] | None:
    """(first names, surnames) from Faker's en_US provider, or None without Faker."""
    try:
        from faker.providers.person import en_US
    except ImportError:
        return None
    provider = en_US.Provider
    firsts = set(provider.first_names) | set(getattr(provider, "first_names_female", ()))
    firsts |= set(getattr(provider, "first_names_male", ()))
    return frozenset(firsts) - _STOP, frozenset(provider.last_names) - _STOP


@functools.lru_cache(maxsize=1)
def place_words() -> frozenset[str]:
    """Street suffixes and city prefixes ("Maria Circle", "Port Jessica" are addresses)."""
    try:
        from faker.providers.address import en_US
    except ImportError:
        return frozenset()
    provider = en_US.Provider
    words = set(getattr(provider, "street_suffixes", ())) | set(
        getattr(provider, "city_prefixes", ())
    )
    return frozenset(words) | {"Apt", "Suite", "Unit", "Floor", "Box"}


def person_values(s: pd.Series) -> np.ndarray:
    """For column values: the first token is a known first name or the last a known surname."""
    lists = name_lists()
    if lists is None:
        return np.ones(len(s), dtype=bool)
    firsts, lasts = lists
    tokens = s.str.replace(",", " ", regex=False).str.split()
    first = tokens.str[0].isin(firsts).to_numpy(dtype=bool)
    last = tokens.str[-1].isin(lasts | firsts).to_numpy(dtype=bool)
    return first | last


def person_in_text(candidate: str, before: str = "") -> tuple[int, int, float] | None:
    """Best name inside a run of capitalised words: (start, end, score) relative to it.

    "Contact Maria Garcia" yields "Maria Garcia": we slide over the tokens to find a known first
    name followed by up to two more capitalised tokens, the last of which is a known surname
    (score 0.85) or, right after the first name, at least not a stop word or a street suffix
    (0.6: "Debra Ramp" is a street; a first name alone is too weak).
    """
    lists = name_lists()
    if lists is None:
        return None
    firsts, lasts = lists
    places = place_words()
    toks = [(m.start(), m.end(), m.group()) for m in _TOKEN.finditer(candidate)]
    best: tuple[int, int, float] | None = None
    for i, (start, _, word) in enumerate(toks):
        if word not in firsts:
            continue
        if start == 0 and _HOUSE_NUMBER.search(before):
            continue  # "2645 Matthew Fields Suite 770": a street named after someone
        for j in range(min(i + 2, len(toks) - 1), i, -1):
            last = toks[j][2]
            if last in lasts:
                score = 0.85
            elif j == i + 1 and last not in _STOP and last not in firsts and last not in places:
                score = 0.6
            else:
                continue
            if best is None or score > best[2]:
                best = (start, toks[j][1], score)
            break
        if best is not None and best[2] >= 0.85:
            break
    return best
