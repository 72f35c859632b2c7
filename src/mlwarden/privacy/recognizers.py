"""The entity recognizers: one object per PII type, registered in one place (``RECOGNIZERS``).

A recognizer is a regex that proposes candidates and a validator that disposes of them. The
regex is deliberately loose (it only has to find the right *shape*); the validator carries the
precision (checksums, numbering-plan rules, calendar checks). Scores say how much a validated
match is worth as evidence: a Luhn-valid, issuer-prefixed 16-digit string is almost surely a
card; a five-digit number that looks like a ZIP code is weak evidence on its own.

Adding a recognizer is appending one :class:`Recognizer` to :func:`default_recognizers`. Order
matters between equal text scores: the earlier one wins an overlap (an IBAN's digits after the
country code can pass Luhn, so IBAN comes before CREDIT_CARD).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from mlwarden.errors import ValidationError
from mlwarden.privacy import names, validators
from mlwarden.privacy.validators import Validator
from mlwarden.settings import DEFAULT_PHONE_REGIONS as _DEFAULT_PHONE_REGIONS

# Kinds drive the default masking policy: identifiers are pseudonymized (joinable), quasi-
# identifiers generalized (still useful for models), free text has its spans redacted.
IDENTIFIER = "identifier"
QUASI_IDENTIFIER = "quasi_identifier"


@dataclass(frozen=True)
class Recognizer:
    """One entity type.

    entity : the name used in reports, policies and replacement tokens (``<EMAIL>``).
    value_regex : a whole column value must match it (after stripping) to be a candidate.
    validate : candidates (``pd.Series`` of str) → boolean array.
    value_score : confidence that a column is this entity when every sampled value validates.
    name_regex : matched against the normalised column name (lower snake case).
    name_score : confidence from the column name alone.
    text_regex : candidate spans in free text; None when the shape is too ambiguous in prose.
    text_score : score of a validated span.
    named_value_regex : a looser ``value_regex`` used when the column name matched (nine bare
        digits are an SSN in a column called ``ssn``, and just a number anywhere else).
    min_digits : free-text rows with fewer digits are skipped before the regex runs.
    refine : for spans needing more than yes/no (names, phones): (candidate, the 40 characters
        before it) → (start, end, score) relative to the candidate, or None.
    """

    entity: str
    value_regex: str
    validate: Validator
    value_score: float
    name_regex: str | None = None
    name_score: float = 0.7
    text_regex: str | None = None
    text_score: float = 0.0
    kind: str = IDENTIFIER
    refine: Callable[[str, str], tuple[int, int, float] | None] | None = None
    named_value_regex: str | None = None
    min_digits: int = 0
    _compiled: dict[str, re.Pattern[str]] = field(default_factory=dict, compare=False, repr=False)

    @property
    def token(self) -> str:
        return f"<{self.entity}>"

    def name_pattern(self) -> re.Pattern[str] | None:
        return self._compile("name", self.name_regex)

    def text_pattern(self) -> re.Pattern[str] | None:
        return self._compile("text", self.text_regex)

    def value_pattern(self, named: bool = False) -> re.Pattern[str]:
        """The whole-value pattern; ``named``: the looser one for a column whose name matched."""
        if named and self.named_value_regex is not None:
            return self._compile("named_value", self.named_value_regex)  # type: ignore[return-value]
        return self._compile("value", self.value_regex)  # type: ignore[return-value]

    def _compile(self, key: str, regex: str | None) -> re.Pattern[str] | None:
        if regex is None:
            return None
        if key not in self._compiled:
            self._compiled[key] = re.compile(regex)
        return self._compiled[key]


_PHONE_NAME = (
    r"(^|_)(phone|telephone|tel|mobile|cell|fax|msisdn|telefon|telefono|telefone|handy|"
    r"portable|movil|celular)(_?(number|no|num|nr|nummer))?($|_)"
)
# A word of a name in any case: letters, inner apostrophes, hyphens and dots ("O'Connor", "J.").
_WORD = rf"{names.LETTER}(?:{names.LETTER}|['’\-.](?={names.LETTER})|\.$)*"
_IPV4 = r"(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)"
_IPV6 = r"[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:%\w+)?"
# Text regexes start with a character class and check the character before it with a
# two-character lookbehind: sre then skips impossible positions in C (a leading lookbehind
# disables that and costs 2-3x). IP: v4 after a digit, v6 after a hex digit or a colon.
_IP_TEXT = (
    r"[0-9A-Fa-f:](?<![\w.:][0-9A-Fa-f:])(?:(?<=\d)\d{0,2}(?:\.\d{1,3}){3}(?!\.?\d)|"
    r"(?:(?<=:)(?::[0-9A-Fa-f]{0,4}){1,7}|(?<=[0-9A-Fa-f])[0-9A-Fa-f]{0,3}"
    r"(?::[0-9A-Fa-f]{0,4}){2,7})(?:%\w+)?(?![\w:]))"
)
# At least 7 digits ahead (cheap to reject years and amounts), then loose digit groups.
_PHONE = (
    r"(?=(?:[^\d\n\x00]{0,3}\d){7})(?:\+\d{1,3}[ .\-]?)?(?:\(\d{1,4}\)[ .\-]?)?\d{1,4}"
    r"(?:[ .\-]?\d{2,8}){1,5}(?:[ ]?(?:x|ext\.?|#)[ ]?\d{1,6})?"
)


#: Regions tried for national phone numbers unless the setting says otherwise.
DEFAULT_PHONE_REGIONS = _DEFAULT_PHONE_REGIONS


def phone_regions(regions: Sequence[str] | str | None = None) -> tuple[str, ...]:
    """Regions tried for national phone numbers: ``regions`` (a list or "US,DE,…"), else
    the ``privacy.phone_regions`` setting (``MLWARDEN_PII_PHONE_REGIONS``), whose default is
    :data:`DEFAULT_PHONE_REGIONS`."""
    if regions is None:
        from mlwarden.settings import PrivacySettings

        regions = PrivacySettings().phone_regions
    if isinstance(regions, str):
        regions = regions.split(",")
    out = tuple(dict.fromkeys(r.strip().upper() for r in regions if r.strip()))
    import phonenumbers

    unknown = [r for r in out if r not in phonenumbers.SUPPORTED_REGIONS]
    if unknown:
        raise ValidationError(
            f"unknown phone region(s) {', '.join(unknown)}; expected ISO 3166 alpha-2 codes",
            field="phone_regions",
        )
    return out


def default_recognizers(
    region: str = "US", regions: Sequence[str] | str | None = None
) -> list[Recognizer]:
    """The built-in recognizers; ``region`` is where phone numbers without ``+`` are dialled
    first, ``regions`` the others tried for numbers written the national way (see
    :func:`phone_regions`)."""
    others = phone_regions(regions)
    return [
        Recognizer(
            "EMAIL",
            r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}",
            validators.email,
            0.95,
            name_regex=r"(^|_)e?_?mail(_?address)?($|_)",
            text_regex=r"(?<![\w.+'%-])[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+",
            text_score=0.95,
        ),
        Recognizer(
            "IBAN",
            r"[A-Za-z]{2}\d{2}(?:[ ]?[A-Za-z0-9]){11,30}",
            validators.iban,
            0.95,
            name_regex=r"(^|_)(iban|bank_?account)($|_)",
            text_regex=r"[A-Z](?<!\w[A-Z])[A-Z]\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?\d{1,3})?(?!\w)",
            text_score=0.95,
            min_digits=8,
        ),
        Recognizer(
            "CREDIT_CARD",
            r"\d(?:[ \-]?\d){12,18}",
            validators.card,
            0.95,
            name_regex=r"(^|_)(credit_?card|card_?(number|no|num)|cc_?(number|num|no)|pan)($|_)",
            text_regex=r"\d(?<![\w\-]\d)(?:[ \-]?\d){12,18}(?!\w)",
            text_score=0.95,
            min_digits=13,
        ),
        Recognizer(
            "US_SSN",
            r"\d{3}([ \-])\d{2}\1\d{4}",
            validators.us_ssn,
            0.85,
            name_regex=r"(^|_)(ssn|social_?security(_?number)?)($|_)",
            text_regex=r"\d(?<![\d\-]\d)\d{2}([ \-])\d{2}\1\d{4}(?![\d\-])",
            text_score=0.85,
            named_value_regex=r"\d{3}([ \-]?)\d{2}\1\d{4}",
            min_digits=9,
        ),
        Recognizer(
            "IP_ADDRESS",
            rf"{_IPV4}|{_IPV6}",
            validators.ip_address,
            0.9,
            name_regex=r"(^|_)(ip|ip_?addr(ess)?|ipv[46]|client_?ip|remote_?addr)($|_)",
            text_regex=_IP_TEXT,
            text_score=0.9,
            min_digits=1,
        ),
        Recognizer(
            "PHONE",
            r"[+()\d][\d ()+.\-]{5,22}\d(?:[ ]?(?:x|ext\.?|#)[ ]?\d{1,6})?",
            validators.make_phone(region, others),
            0.85,
            name_regex=_PHONE_NAME,
            # Not inside paths or version strings (…/537.36) and not the date part of a time.
            text_regex=rf"(?<![\w+/.]){_PHONE}(?![\w/]|:\d)",
            text_score=0.85,
            refine=validators.make_phone_refine(region, 0.85, others),
            min_digits=7,
        ),
        Recognizer(
            # Grouped like a phone number but valid in no configured region: test data,
            # synthetic data, numbers from elsewhere. Weaker than PHONE and columns only (in
            # prose the shape alone is an order or case number as often as a phone number).
            "PHONE_SHAPED",
            validators.PHONE_SHAPE,
            validators.phone_shaped,
            0.6,
            name_regex=_PHONE_NAME,
            name_score=0.7,
        ),
        Recognizer(
            "DE_TAX_ID",
            r"\d{2} ?\d{3} ?\d{3} ?\d{3}",
            validators.stdnum_validator("de.idnr"),
            0.6,
            name_regex=r"(^|_)(steuer_?id|idnr|tax_?id|tin)($|_)",
        ),
        Recognizer(
            "FR_NIR",
            r"[12] ?\d{2} ?\d{2} ?(?:\d{2}|2[AB]) ?\d{3} ?\d{3} ?\d{2}",
            validators.stdnum_validator("fr.nir"),
            0.8,
            name_regex=r"(^|_)(nir|insee|numero_?secu|securite_?sociale)($|_)",
            text_regex=r"[12](?<!\w[12]) ?\d{2} ?\d{2} ?(?:\d{2}|2[AB]) ?\d{3} ?\d{3} ?\d{2}(?!\w)",
            text_score=0.8,
            min_digits=13,
        ),
        Recognizer(
            "ES_DNI",
            r"\d{8}-?[A-Za-z]",
            validators.stdnum_validator("es.dni"),
            0.85,
            name_regex=r"(^|_)(dni|nif|documento)($|_)",
            text_regex=r"\d(?<!\w\d)\d{7}-?[A-Z](?!\w)",
            text_score=0.8,
            min_digits=8,
        ),
        Recognizer(
            "NL_BSN",
            r"\d{4}\.?\d{2}\.?\d{3}",
            validators.stdnum_validator("nl.bsn"),
            0.5,
            name_regex=r"(^|_)(bsn|burgerservicenummer|sofi_?nummer)($|_)",
        ),
        Recognizer(
            "UK_NINO",
            r"[A-Za-z]{2} ?\d{2} ?\d{2} ?\d{2} ?[A-Da-d]",
            validators.uk_nino,
            0.85,
            name_regex=r"(^|_)(nino|ni_?number|national_?insurance(_?number)?)($|_)",
            text_regex=r"[A-Z](?<!\w[A-Z])[A-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D](?!\w)",
            text_score=0.8,
            min_digits=6,
        ),
        Recognizer(
            "DATE_OF_BIRTH",
            r"\d{4}-\d{1,2}-\d{1,2}(?:[ T]00:00(?::00)?)?|\d{1,2}[/.\-]\d{1,2}[/.\-]\d{2,4}",
            validators.date_of_birth,
            # Any date column validates, so values alone never flag one: the name must agree.
            0.3,
            name_regex=r"(^|_)(dob|date_?of_?birth|birth_?date|birthdate|birthday|born(_on)?)($|_)",
            name_score=0.75,
            kind=QUASI_IDENTIFIER,
        ),
        Recognizer(
            "POSTCODE",
            r"\d{5}(?:-\d{4})?|[A-Za-z]{1,2}\d[A-Za-z\d]? ?\d[A-Za-z]{2}|\d{4} ?[A-Za-z]{2}",
            validators.always,
            0.3,
            name_regex=r"(^|_)(post_?code|postal_?code|zip|zip_?code|zipcode|plz|cap)($|_)",
            name_score=0.75,
            kind=QUASI_IDENTIFIER,
        ),
        Recognizer(
            "ADDRESS",
            r"\d+[A-Za-z]?,? [A-Z][A-Za-z0-9'.#\- ]+(?:,.*)?",
            validators.always,
            # "12 Main Street" has a shape, not a checksum: the column name must agree.
            0.3,
            name_regex=(
                r"^(?!(.*_)?(ip|e_?mail|mac|wallet)_?address)(.*_)?"
                r"(street|home|postal|mailing|billing|shipping|residential)?_?"
                r"(address|street)(_?line)?(_?\d)?$"
            ),
            name_score=0.7,
            kind=QUASI_IDENTIFIER,
        ),
        Recognizer(
            "PERSON",
            # Any case: "łukasz nowak", "WANG Wei", "Okafor, Chukwuemeka"; the lists decide.
            rf"{_WORD}(?:,? {_WORD}){{0,4}}",
            names.person_values,
            0.75 if names.name_lists() is not None else 0.25,
            name_regex=(
                r"^((first|last|middle|given|family|full|maiden|customer|patient|client|"
                r"person|contact|holder|account_?holder|employee|sur|fore|nick|user)_?)?"
                r"names?$|^(vorname|nachname|prenom|nom|nombre|apellidos?|nome|cognome|"
                r"imie|nazwisko|ad|soyad|voornaam|achternaam)$"
            ),
            name_score=0.6,
            # Two to five capitalised words (particles allowed between them: "Daan van der
            # Berg"); the first starts after neither a letter nor an apostrophe.
            text_regex=(
                rf"{names.UPPER}(?<![\w'’]{names.UPPER})"
                rf"(?:{names.LETTER}|['’\-](?={names.LETTER}))*{names.LOWER}"
                rf"(?:[ ](?:{names.PARTICLES}[ ])*{names.NAME_TOKEN}){{1,4}}(?!\w)"
            ),
            text_score=0.85,
            refine=names.person_in_text,
        ),
    ]


def normalise_name(column: object) -> str:
    """``"Customer E-Mail"`` and ``"customerEmail"`` both become ``customer_e_mail``-like keys."""
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", str(column))
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
