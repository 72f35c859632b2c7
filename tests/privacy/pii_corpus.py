"""A seeded synthetic PII corpus (Faker): labelled free-text records and labelled columns.

Shared by the tests and by ``bench/pii.py`` (which writes it to JSON for the Presidio peer),
so both scanners are measured on exactly the same data. Ground truth for phones is "a number
``phonenumbers`` considers valid in its region": Faker draws random area codes, and a number
with an unassigned area code is not anybody's phone number.

Negatives are the lookalikes a bare regex would take: 16-digit strings failing Luhn, IBANs with
a wrong check number, ``000-``/``666-``/``9xx-`` SSNs, version strings and times.
"""

from __future__ import annotations

import random
from typing import Any

import pandas as pd

VALIDATED = ["EMAIL", "PHONE", "CREDIT_CARD", "IBAN", "US_SSN", "IP_ADDRESS"]
ENTITIES = [*VALIDATED, "PERSON"]

TEMPLATES = {
    "EMAIL": [
        "Please reply to {} when you can.",
        "Contact: {}",
        "I changed my e-mail to {} today.",
    ],
    "PHONE": ["Call me back on {} after 5pm.", "My number is {}.", "Phone: {} (mobile)"],
    "CREDIT_CARD": ["Charge the card {} for the renewal.", "Card number {} was declined."],
    "IBAN": ["Refund to IBAN {} please.", "Bank account {} is on file."],
    "US_SSN": ["My SSN is {}.", "Social security number: {}"],
    "IP_ADDRESS": ["Login from {} was blocked.", "Requests came from {} overnight."],
    "PERSON": [
        "{} asked about the invoice.",
        "Spoke with {} today.",
        "Dear {}, thanks for writing.",
    ],
}
NEGATIVE_TEMPLATES = [
    ("Order {} has shipped.", "luhn_fail"),
    ("Reference {} is unknown.", "bad_iban"),
    ("Case {} is closed.", "bad_ssn"),
    ("Version {} was released.", "version"),
    ("The meeting is at {} in room 4.", "time"),
    ("Invoice total was {} USD.", "amount"),
    ("Tracking number {} was updated.", "tracking"),
]


class Generator:
    """Positive values per entity and negative lookalikes, from one seed."""

    def __init__(self, seed: int = 0) -> None:
        from faker import Faker

        self.rng = random.Random(seed)
        self.fake = Faker("en_US")
        self.fake.seed_instance(seed)
        self.locales = {loc: Faker(loc) for loc in ("en_GB", "de_DE", "fr_FR", "nl_NL", "es_ES")}
        for i, f in enumerate(self.locales.values()):
            f.seed_instance(seed + i + 1)

    def value(self, entity: str) -> str:
        return getattr(self, f"_{entity.lower()}")()

    def _email(self) -> str:
        return self.fake.email() if self.rng.random() < 0.5 else self.fake.free_email()

    def _phone(self) -> str:
        import phonenumbers

        while True:
            if self.rng.random() < 0.7:
                number = self.fake.phone_number()
                try:
                    if phonenumbers.is_valid_number(phonenumbers.parse(number, "US")):
                        return number
                except phonenumbers.NumberParseException:
                    pass
                continue
            loc, region = self.rng.choice([("en_GB", "GB"), ("de_DE", "DE"), ("fr_FR", "FR")])
            try:
                parsed = phonenumbers.parse(self.locales[loc].phone_number(), region)
            except phonenumbers.NumberParseException:
                continue
            if phonenumbers.is_valid_number(parsed):
                fmt = phonenumbers.PhoneNumberFormat.INTERNATIONAL
                return phonenumbers.format_number(parsed, fmt)

    def _credit_card(self) -> str:
        kind = self.rng.choice(["visa16", "mastercard", "amex", "discover", "jcb", "diners"])
        number = self.fake.credit_card_number(card_type=kind)
        style = self.rng.random()
        if style < 0.4:
            return number
        sep = " " if style < 0.8 else "-"
        if len(number) == 15:
            return sep.join([number[:4], number[4:10], number[10:]])
        return sep.join(number[i : i + 4] for i in range(0, len(number), 4))

    def _iban(self) -> str:
        source = self.rng.choice([self.fake, *self.locales.values()])
        value = source.iban()
        if self.rng.random() < 0.5:
            return " ".join(value[i : i + 4] for i in range(0, len(value), 4))
        return value

    def _us_ssn(self) -> str:
        return self.fake.ssn()

    def _ip_address(self) -> str:
        return self.fake.ipv4() if self.rng.random() < 0.7 else self.fake.ipv6()

    def _person(self) -> str:
        return f"{self.fake.first_name()} {self.fake.last_name()}"

    # -- negatives --

    def negative(self, kind: str) -> str:
        r = self.rng
        if kind == "luhn_fail":
            from mlwarden.privacy.validators import luhn

            while True:
                digits = "".join(str(r.randrange(10)) for _ in range(16))
                if not luhn(pd.Series([digits]))[0]:
                    return digits
        if kind == "bad_iban":
            good = self._iban().replace(" ", "")
            check = (int(good[2:4]) + r.randrange(1, 96)) % 97
            return f"{good[:2]}{max(check, 2):02d}{good[4:]}"
        if kind == "bad_ssn":
            area = r.choice(["000", "666", f"9{r.randrange(10)}{r.randrange(10)}"])
            return f"{area}-{r.randrange(1, 100):02d}-{r.randrange(1, 10000):04d}"
        if kind == "version":
            return f"{r.randrange(1, 10)}.{r.randrange(20)}.{r.randrange(50)}"
        if kind == "time":
            return f"{r.randrange(24):02d}:{r.randrange(60):02d}:{r.randrange(60):02d}"
        if kind == "amount":
            return f"{r.randrange(10, 99999)}.{r.randrange(100):02d}"
        return "".join(str(r.randrange(10)) for _ in range(r.choice([10, 12, 20])))


def text_records(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """n records: {"text": str, "spans": [[start, end, entity], ...]}, about a third negative."""
    gen = Generator(seed)
    records = []
    for _ in range(n):
        parts: list[tuple[str, str | None, str | None]] = []
        for _ in range(gen.rng.choice([1, 2, 2, 3])):
            if gen.rng.random() < 0.3:
                template, kind = gen.rng.choice(NEGATIVE_TEMPLATES)
                parts.append((template, gen.negative(kind), None))
            else:
                entity = gen.rng.choice(ENTITIES)
                parts.append((gen.rng.choice(TEMPLATES[entity]), gen.value(entity), entity))
        text, spans = "", []
        for template, value, entity in parts:
            before, after = template.split("{}")
            text += ("" if not text else " ") + before
            if entity is not None:
                spans.append([len(text), len(text) + len(value), entity])
            text += value + after
        records.append({"text": text, "spans": spans})
    return records


COLUMN_NAMES = {
    "EMAIL": "email",
    "PHONE": "phone_number",
    "CREDIT_CARD": "card_number",
    "IBAN": "iban",
    "US_SSN": "ssn",
    "IP_ADDRESS": "client_ip",
    "PERSON": "full_name",
}


def column_frame(n_rows: int = 300, seed: int = 0) -> tuple[pd.DataFrame, dict[str, str | None]]:
    """A frame of labelled columns: each entity under a telling name, a neutral name and a
    neutral name with 30 % nulls; lookalike negatives; plain data; free text."""
    gen = Generator(seed)
    cols: dict[str, list[Any]] = {}
    truth: dict[str, str | None] = {}
    for i, entity in enumerate(ENTITIES):
        for variant in ("named", "plain", "sparse"):
            # Neutral names ("plain_3") leave the values as the only evidence.
            name = COLUMN_NAMES[entity] if variant == "named" else f"{variant}_{i}"
            values: list[Any] = [gen.value(entity) for _ in range(n_rows)]
            if variant == "sparse":
                values = [v if gen.rng.random() > 0.3 else None for v in values]
            cols[name], truth[name] = values, entity
    for kind in ("luhn_fail", "bad_iban", "bad_ssn", "version", "time", "amount", "tracking"):
        cols[f"neg_{kind}"] = [gen.negative(kind) for _ in range(n_rows)]
        truth[f"neg_{kind}"] = None
    cols["amount"] = [gen.rng.random() * 1000 for _ in range(n_rows)]
    cols["colour"] = [gen.rng.choice(["red", "green", "blue"]) for _ in range(n_rows)]
    cols["product"] = [gen.fake.catch_phrase() for _ in range(n_rows)]
    cols["comment"] = [gen.fake.sentence(nb_words=8) for _ in range(n_rows)]
    truth.update(amount=None, colour=None, product=None, comment=None)
    return pd.DataFrame(cols), truth
