"""Validators: checksums and format rules that turn a regex candidate into a finding.

Every validator takes a ``pd.Series`` of candidate strings (already matched by the
recognizer's regex, so the shape is right) and returns a boolean ``np.ndarray`` of the same
length. Where the rule is arithmetic (Luhn, SSN ranges) it runs on numpy arrays for the whole
batch; where a library owns the rule (``phonenumbers``, ``ipaddress``, ``python-stdnum``) it runs
once per candidate, which is fine because only regex survivors get here.
"""

from __future__ import annotations

import datetime as _dt
import functools
import ipaddress
import re
from collections.abc import Callable

import numpy as np
import pandas as pd

Validator = Callable[[pd.Series], np.ndarray]

_SEPARATORS = r"[ \-.()]"


def digits_only(s: pd.Series) -> pd.Series:
    return s.str.replace(r"\D", "", regex=True)


def luhn(s: pd.Series) -> np.ndarray:
    """Payment-card check digit (ISO/IEC 7812), vectorised per digit-string length.

    Only lengths 13–19 are card numbers; a random digit string passes Luhn one time in ten,
    which is why the scanner reports the validated fraction rather than a yes/no.
    """
    digits = digits_only(s)
    out = np.zeros(len(s), dtype=bool)
    lengths = digits.str.len().to_numpy()
    for n in np.unique(lengths):
        if not 13 <= n <= 19:
            continue
        idx = np.flatnonzero(lengths == n)
        block = np.frombuffer("".join(digits.iloc[idx]).encode("ascii"), dtype=np.uint8)
        d = block.reshape(len(idx), n).astype(np.int64) - 48
        # Double every second digit from the right; a doubled digit above 9 loses 9.
        doubled = d[:, ::-1][:, 1::2] * 2
        total = d[:, ::-1][:, 0::2].sum(axis=1) + (doubled - 9 * (doubled > 9)).sum(axis=1)
        out[idx] = total % 10 == 0
    return out


def card(s: pd.Series) -> np.ndarray:
    """Luhn plus a known issuer prefix: rejects most Luhn-valid account numbers and IDs."""
    digits = digits_only(s)
    issuer = digits.str.match(r"^(?:4|5[1-5]|2[2-7]|3[47]|3[068]|6(?:011|5|4[4-9]|22)|35|62)")
    return luhn(s) & issuer.to_numpy(dtype=bool)


def iban(s: pd.Series) -> np.ndarray:
    """ISO 13616: mod-97 of the rearranged number equals 1, and the country's length fits."""
    from stdnum import iban as _stdnum_iban

    out = np.zeros(len(s), dtype=bool)
    compact = s.str.replace(r"[ \-]", "", regex=True).str.upper()
    for i, value in enumerate(compact):
        rearranged = value[4:] + value[:4]
        numeric = "".join(str(int(ch, 36)) for ch in rearranged)
        # The arithmetic first (cheap), stdnum's per-country format table only for survivors.
        if int(numeric) % 97 == 1:
            out[i] = _stdnum_iban.is_valid(value)
    return out


def us_ssn(s: pd.Series) -> np.ndarray:
    """SSA rules: area not 000, 666 or 900–999; group not 00; serial not 0000."""
    parts = digits_only(s)
    ok = parts.str.len().to_numpy() == 9
    padded = parts.where(ok, "000000000")
    area = padded.str.slice(0, 3).astype(int).to_numpy()
    group = padded.str.slice(3, 5).astype(int).to_numpy()
    serial = padded.str.slice(5, 9).astype(int).to_numpy()
    return ok & (area != 0) & (area != 666) & (area < 900) & (group != 0) & (serial != 0)


_EMAIL_LOCAL = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$"
)
_DOMAIN_LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")


def email(s: pd.Series) -> np.ndarray:
    """RFC 5321 lengths, dot-atom local part, LDH domain labels, alphabetic TLD."""
    out = np.zeros(len(s), dtype=bool)
    for i, value in enumerate(s):
        local, _, domain = value.rpartition("@")
        if not (0 < len(local) <= 64 and 3 < len(domain) <= 253 and _EMAIL_LOCAL.match(local)):
            continue
        labels = domain.split(".")
        out[i] = (
            len(labels) >= 2
            and all(_DOMAIN_LABEL.match(label) for label in labels)
            and labels[-1].isalpha()
            and len(labels[-1]) >= 2
        )
    return out


_EXTENSION = re.compile(r"(?:x|ext\.?|#)[ ]?\d{1,6}$")
_NANP = re.compile(r"(?:\+1|1)?[ .\-]?(\(?[2-9]\d{2}\)?[ .\-]?\d{3}[ .\-]?\d{4})")


@functools.lru_cache(maxsize=65536)  # logs repeat numbers; parsing is ~50 µs each
def is_phone(value: str, region: str) -> bool:
    """A number ``phonenumbers`` considers valid (dialled from ``region`` without ``+``)."""
    import phonenumbers

    # E.164 allows at most 15 digits: skip the parser for card numbers and the like.
    n_digits = sum(ch.isdigit() for ch in _EXTENSION.sub("", value))
    if not 7 <= n_digits <= 15:
        return False
    bare = _EXTENSION.sub("", value).rstrip()
    nanp = _NANP.fullmatch(bare)
    if nanp and (bare.startswith("+") or phonenumbers.country_code_for_region(region) == 1):
        # A North American number written the usual ways parses to exactly (1, these ten
        # digits); building it directly skips most of parse(), the larger half of the cost.
        national = int(re.sub(r"\D", "", nanp.group(1)))
        number = phonenumbers.PhoneNumber(country_code=1, national_number=national)
        # Checking the US plan first avoids scanning all ~25 NANP regions for most numbers.
        return phonenumbers.is_valid_number_for_region(
            number, "US"
        ) or phonenumbers.is_valid_number(number)
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(value, region))
    except phonenumbers.NumberParseException:
        return False


def is_phone_in(value: str, region: str, others: tuple[str, ...], national: bool) -> bool:
    """Valid dialled from ``region``, or from one of ``others`` when ``national`` says the
    number is written the national way there (see :func:`make_phone`)."""
    if is_phone(value, region):
        return True
    return national and any(is_phone(value, r) for r in others if r != region)


# Written the national way: a trunk 0 ("030 12345678"), a bracketed area code ("(11) 91234-5678")
# or three or more space-separated groups ("912 345 678"); not an amount, not an SSN shape.
_TRUNK = re.compile(r"\(?0\d|\(\d{1,5}\)")
_SPACED = re.compile(r"\d{2,5}(?: \d{2,5}){2,5}$")


def _national_way(value: str, spaced: bool = True) -> bool:
    return bool(_TRUNK.match(value) or (spaced and _SPACED.match(value)))


def make_phone(region: str, regions: tuple[str, ...] = ()) -> Validator:
    """A phone validator for numbers written without a country code in ``region`` or, for
    values written the national way (a trunk ``0``, an area code in brackets, or three or more
    space-separated groups: ``030 12345678``, ``(11) 91234-5678``, ``912 345 678``), in any of
    ``regions``. Other shapes are tried in ``region`` only: amounts and account numbers
    validate somewhere."""

    def phone(s: pd.Series) -> np.ndarray:
        return np.fromiter(
            (is_phone_in(v, region, regions, _national_way(v)) for v in s),
            dtype=bool,
            count=len(s),
        )

    return phone


# Phone-shaped: grouped like a phone number (7 to 15 digits) whether or not any numbering plan
# has it; test and synthetic data ("555-0100", "123-456-7890") look like this.
PHONE_SHAPE = (
    r"(?:\+\d{1,3}[ .\-]?)?(?:\(\d{2,5}\)[ .\-]?|\d{2,5}[ .\-])(?:\d{2,5}[ .\-]){0,3}\d{3,5}"
    r"(?:[ ]?(?:x|ext\.?|#)[ ]?\d{1,6})?"
)
_NOT_PHONE_SHAPE = re.compile(
    r"^\d{4}[.\-/]\d{1,2}[.\-/]\d{1,2}$|^\d{1,2}[.\-/]\d{1,2}[.\-/]\d{2,4}$"  # dates
    r"|^\d{3}([ \-])\d{2}\1\d{4}$"  # SSN-shaped
)


def phone_shaped(s: pd.Series) -> np.ndarray:
    """7 to 15 digits in phone-like groups, not a date or an SSN (the regex did the rest)."""
    digits = digits_only(s.str.replace(_EXTENSION, "", regex=True)).str.len().to_numpy()
    other = s.str.match(_NOT_PHONE_SHAPE).to_numpy(dtype=bool)
    return (digits >= 7) & (digits <= 15) & ~other


_GROUP = re.compile(r"\+?\(?\d+\)?(?:[ ]?(?:x|ext\.?|#)[ ]?\d{1,6})?")


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_PHONE_CONTEXT = re.compile(
    r"(?i)(phone|call|\btel\b|mobile|cell|fax|sms|whatsapp|text me|reach me|number is|dial|"
    r"telefon|téléphone|teléfono|telefone|telefono|handy|rufnummer|erreichbar|anruf|appel|"
    r"portable|llam|móvil|celular|ligou|ligar|chiama|cellulare|numer|número|numéro|nummer|"
    r"zadzwo|aradı|bellen|belde)"
)


def make_phone_refine(
    region: str, score: float, regions: tuple[str, ...] = ()
) -> Callable[[str, str], tuple[int, int, float] | None]:
    """For free text: the longest run of digit groups inside a candidate that is a valid number.

    The text regex is loose on purpose (it cannot know where a number ends: "call 555-123-4567
    24 times"), so a failing candidate is retried on its sub-runs of whole groups, longest first.
    A number that is valid only in another of ``regions`` counts when it is written the national
    way with a trunk ``0`` or a bracketed area code ("030 12345678"), or in space-separated
    groups when the words before it talk about phoning ("llamó desde el 912 345 678").
    """

    def refine(candidate: str, before: str = "") -> tuple[int, int, float] | None:
        if _ISO_DATE.search(candidate) or (before[-2:-1].isdigit() and before.endswith(":")):
            return None  # a date, or the seconds of a time ("22:21:06.516266")
        context = _PHONE_CONTEXT.search(before) is not None
        # A bare run of digits is an account or tracking number as often as a phone number:
        # take it only when the words just before it talk about phoning.
        if candidate.isdigit():
            ok = context and is_phone_in(candidate, region, regions, candidate[0] == "0")
            return (0, len(candidate), score) if ok else None

        def valid(text: str) -> bool:
            return is_phone_in(text, region, regions, _national_way(text, spaced=context))

        if valid(candidate):
            return 0, len(candidate), score
        groups = [m.span() for m in _GROUP.finditer(candidate)]
        n = len(groups)
        for size in range(n - 1, 0, -1):
            for i in range(n - size + 1):
                a, b = groups[i][0], groups[i + size - 1][1]
                sub = candidate[a:b]
                if not sub.isdigit() and valid(sub):
                    return a, b, score
        return None

    return refine


def ip_address(s: pd.Series) -> np.ndarray:
    out = np.zeros(len(s), dtype=bool)
    for i, value in enumerate(s):
        try:
            ipaddress.ip_address(value)
        except ValueError:
            continue
        out[i] = True
    return out


def date_of_birth(s: pd.Series) -> np.ndarray:
    """A real calendar date giving an age between 0 and 120 today."""
    dates = pd.to_datetime(s, errors="coerce", format="mixed")
    today = pd.Timestamp(_dt.date.today())
    ok = dates.notna() & (dates <= today) & (dates > today - pd.DateOffset(years=120))
    return ok.to_numpy(dtype=bool)


def always(s: pd.Series) -> np.ndarray:
    """For shapes with no checksum (postcodes): the regex match is all the evidence there is."""
    return np.ones(len(s), dtype=bool)


def stdnum_validator(module: str) -> Validator:
    """Wrap ``stdnum.<module>.is_valid`` (length, format and check digits per country)."""

    def validate(s: pd.Series) -> np.ndarray:
        import importlib

        is_valid = importlib.import_module(f"stdnum.{module}").is_valid
        return np.fromiter((bool(is_valid(v)) for v in s), dtype=bool, count=len(s))

    validate.__name__ = f"stdnum_{module.replace('.', '_')}"
    return validate


# HMRC: first letter not D F I Q U V, second not D F I O Q U V, and a few reserved prefixes.
_NINO = re.compile(r"^(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]\d{6}[A-D]$")


def uk_nino(s: pd.Series) -> np.ndarray:
    """UK National Insurance number prefix rules (python-stdnum has no ``gb.nino``)."""
    compact = s.str.replace(" ", "", regex=False).str.upper()
    return compact.str.match(_NINO).to_numpy(dtype=bool)
