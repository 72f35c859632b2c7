"""Build ``src/mlwarden/privacy/data/names.txt.gz``, the name lists the PII scanner ships.

The source is `names-dataset <https://github.com/philipperemy/name-dataset>`_ (Philippe Remy;
first and last names with per-country popularity ranks for 105 countries). Loading it takes
about 40 s and 2 GB of RAM, far too much at scan time, so this script runs once, offline, and
writes a compact list: the top ``--first`` first names per country and gender and the top
``--last`` surnames per country, lower-cased, with accent-folded variants ("weissmann" for
"weißmann"), deduplicated and sorted. A third section lists common words and place names that
are also in the name lists ("will", "may", "grace", "paris"): the scanner treats those tokens as
ambiguous, so they count only beside an unambiguous name.

    pip install names-dataset faker pycountry
    python scripts/build_name_lists.py            # rewrites the data file

The output is deterministic for a given names-dataset version. Nothing is fetched at run time.
"""

from __future__ import annotations

import argparse
import gzip
import importlib
import json
import sys
import unicodedata
from pathlib import Path

OUT = (
    Path(__file__).resolve().parent.parent
    / "src"
    / "mlwarden"
    / "privacy"
    / "data"
    / "names.txt.gz"
)

# Function words, months, days, colours, titles and business words in the corpus languages:
# capitalised at a sentence start or in a heading, and present in the (noisy) name lists.
COMMON = [
    "the",
    "a",
    "an",
    "and",
    "or",
    "but",
    "if",
    "in",
    "on",
    "at",
    "to",
    "for",
    "from",
    "with",
    "by",
    "of",
    "as",
    "is",
    "are",
    "was",
    "be",
    "been",
    "will",
    "would",
    "may",
    "might",
    "can",
    "could",
    "shall",
    "should",
    "must",
    "do",
    "did",
    "does",
    "done",
    "have",
    "has",
    "had",
    "not",
    "no",
    "yes",
    "so",
    "than",
    "then",
    "there",
    "here",
    "this",
    "that",
    "these",
    "those",
    "who",
    "whom",
    "what",
    "when",
    "where",
    "why",
    "how",
    "all",
    "any",
    "each",
    "few",
    "more",
    "most",
    "other",
    "some",
    "such",
    "only",
    "own",
    "same",
    "too",
    "very",
    "just",
    "now",
    "new",
    "old",
    "good",
    "great",
    "best",
    "big",
    "little",
    "long",
    "high",
    "young",
    "grand",
    "early",
    "late",
    "please",
    "dear",
    "hi",
    "hello",
    "thanks",
    "thank",
    "regards",
    "hope",
    "wish",
    "love",
    "joy",
    "faith",
    "grace",
    "mercy",
    "glory",
    "honor",
    "honour",
    "patience",
    "charity",
    "summer",
    "winter",
    "spring",
    "autumn",
    "fall",
    "rain",
    "snow",
    "sunny",
    "sky",
    "star",
    "sun",
    "moon",
    "sea",
    "river",
    "lake",
    "ocean",
    "hill",
    "wood",
    "woods",
    "forest",
    "field",
    "fields",
    "park",
    "garden",
    "rose",
    "lily",
    "daisy",
    "ivy",
    "iris",
    "violet",
    "jasmine",
    "red",
    "green",
    "blue",
    "white",
    "black",
    "grey",
    "gray",
    "brown",
    "pink",
    "orange",
    "purple",
    "gold",
    "golden",
    "silver",
    "amber",
    "ruby",
    "pearl",
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "christmas",
    "easter",
    "januar",
    "februar",
    "märz",
    "mai",
    "juni",
    "juli",
    "oktober",
    "dezember",
    "montag",
    "dienstag",
    "mittwoch",
    "donnerstag",
    "freitag",
    "samstag",
    "sonntag",
    "janvier",
    "février",
    "mars",
    "avril",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
    "lundi",
    "mardi",
    "mercredi",
    "jeudi",
    "vendredi",
    "samedi",
    "dimanche",
    "enero",
    "febrero",
    "marzo",
    "abril",
    "mayo",
    "junio",
    "julio",
    "agosto",
    "septiembre",
    "octubre",
    "noviembre",
    "diciembre",
    "lunes",
    "martes",
    "miércoles",
    "jueves",
    "viernes",
    "sábado",
    "domingo",
    "gennaio",
    "febbraio",
    "aprile",
    "maggio",
    "giugno",
    "luglio",
    "settembre",
    "ottobre",
    "dicembre",
    "janeiro",
    "fevereiro",
    "março",
    "maio",
    "junho",
    "julho",
    "setembro",
    "outubro",
    "novembro",
    "dezembro",
    "mr",
    "mrs",
    "ms",
    "miss",
    "mister",
    "dr",
    "prof",
    "sir",
    "madam",
    "madame",
    "monsieur",
    "mademoiselle",
    "herr",
    "frau",
    "señor",
    "señora",
    "senhor",
    "senhora",
    "signor",
    "signora",
    "pan",
    "pani",
    "mevrouw",
    "meneer",
    "bay",
    "bayan",
    "customer",
    "client",
    "patient",
    "user",
    "account",
    "card",
    "loan",
    "bank",
    "credit",
    "debit",
    "order",
    "ticket",
    "note",
    "notes",
    "invoice",
    "report",
    "review",
    "committee",
    "board",
    "team",
    "office",
    "branch",
    "station",
    "hotel",
    "street",
    "road",
    "avenue",
    "lane",
    "square",
    "bridge",
    "tower",
    "center",
    "centre",
    "city",
    "town",
    "village",
    "county",
    "state",
    "church",
    "school",
    "college",
    "university",
    "hospital",
    "airport",
    "market",
    "mall",
    "sale",
    "sales",
    "deal",
    "deals",
    "price",
    "cash",
    "bill",
    "bills",
    "check",
    "cheque",
    "fee",
    "fees",
    "rate",
    "rates",
    "home",
    "house",
    "car",
    "service",
    "services",
    "support",
    "help",
    "desk",
    "news",
    "post",
    "mail",
    "express",
    "group",
    "company",
    "limited",
    "inc",
    "ltd",
    "plc",
    "gmbh",
    "bank",
    "insurance",
    "capital",
    "holdings",
    "partners",
    "international",
    "national",
    "global",
    "general",
    "united",
    "royal",
    "union",
    "first",
    "last",
    "next",
    "north",
    "south",
    "east",
    "west",
    "central",
    "upper",
    "lower",
    "sparkasse",
    "banque",
    "postale",
    "ag",
    "sa",
    "spa",
    "bv",
]

CITIES = [
    "london",
    "paris",
    "berlin",
    "madrid",
    "rome",
    "lagos",
    "abuja",
    "accra",
    "nairobi",
    "cairo",
    "casablanca",
    "tunis",
    "algiers",
    "dakar",
    "mumbai",
    "delhi",
    "bangalore",
    "chennai",
    "kolkata",
    "hyderabad",
    "pune",
    "patna",
    "jaipur",
    "karachi",
    "lahore",
    "dhaka",
    "shanghai",
    "beijing",
    "shenzhen",
    "guangzhou",
    "hong",
    "kong",
    "tokyo",
    "osaka",
    "seoul",
    "busan",
    "hanoi",
    "saigon",
    "manila",
    "jakarta",
    "bangkok",
    "singapore",
    "sydney",
    "melbourne",
    "auckland",
    "toronto",
    "vancouver",
    "montreal",
    "chicago",
    "boston",
    "houston",
    "dallas",
    "austin",
    "denver",
    "phoenix",
    "seattle",
    "atlanta",
    "miami",
    "detroit",
    "vegas",
    "orlando",
    "york",
    "francisco",
    "angeles",
    "diego",
    "jose",
    "washington",
    "lincoln",
    "jackson",
    "madison",
    "victoria",
    "florence",
    "sofia",
    "lima",
    "quito",
    "bogota",
    "santiago",
    "caracas",
    "havana",
    "mexico",
    "istanbul",
    "ankara",
    "izmir",
    "warsaw",
    "krakow",
    "prague",
    "vienna",
    "budapest",
    "munich",
    "hamburg",
    "cologne",
    "köln",
    "frankfurt",
    "stuttgart",
    "dresden",
    "zurich",
    "geneva",
    "brussels",
    "amsterdam",
    "rotterdam",
    "lisbon",
    "porto",
    "barcelona",
    "valencia",
    "sevilla",
    "seville",
    "milan",
    "milano",
    "naples",
    "napoli",
    "turin",
    "venice",
    "dublin",
    "edinburgh",
    "glasgow",
    "manchester",
    "liverpool",
    "leeds",
    "bristol",
    "cardiff",
    "belfast",
    "oslo",
    "stockholm",
    "copenhagen",
    "helsinki",
    "athens",
    "moscow",
    "kyiv",
    "riyadh",
    "dubai",
    "doha",
    "amman",
    "beirut",
    "baghdad",
    "tehran",
    "kabul",
    "rio",
    "sao",
    "paulo",
    "salvador",
    "brasilia",
    "recife",
]


def fold(word: str) -> str:
    """Lower-case ASCII-ish form: accents dropped, ß -> ss, ı -> i, ł -> l."""
    word = word.lower().replace("ß", "ss").replace("ı", "i").replace("ł", "l").replace("ø", "o")
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def clean(names: set[str]) -> set[str]:
    out = set()
    for name in names:
        name = name.strip().lower()
        # letters, and the apostrophes and hyphens of O'Connor and Seo-yeon; no digits, no dots
        if len(name) < 2 or not all(ch.isalpha() or ch in "'-" for ch in name):
            continue
        out.add(name)
        out.add(fold(name))
    return out


def top_names(n_first: int, n_last: int, dump: Path | None) -> tuple[dict, dict]:
    if dump is not None:
        data = json.loads(dump.read_text())
        return data["first"], data["last"]
    from names_dataset import NameDataset  # 40 s, 2 GB

    nd = NameDataset()
    return (
        nd.get_top_names(n=n_first, use_first_names=True),
        nd.get_top_names(n=n_last, use_first_names=False),
    )


def common_words() -> set[str]:
    words = set(COMMON) | set(CITIES)
    # es_ES is left out: its list is drawn from prose and holds "maría", "garcía", "lópez"
    for locale in ("en_US", "de_DE", "fr_FR", "it_IT", "nl_NL", "pl_PL"):
        try:
            provider = importlib.import_module(f"faker.providers.lorem.{locale}").Provider
        except ImportError:
            continue
        # lower-case entries only: some lists hold proper nouns ("María", "García")
        words |= {w for w in provider.word_list if " " not in w and w == w.lower()}
    for locale in ("de_DE", "pl_PL", "en_IN"):
        try:
            provider = importlib.import_module(f"faker.providers.address.{locale}").Provider
        except ImportError:
            continue
        words |= {w.lower() for w in provider.cities if " " not in w}
    try:
        import pycountry

        for country in pycountry.countries:
            words |= {w.lower() for w in country.name.replace(",", " ").split()}
    except ImportError:
        pass
    return clean(words)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--first", type=int, default=700, help="first names per country+gender")
    parser.add_argument("--last", type=int, default=1000, help="surnames per country")
    parser.add_argument("--from-json", type=Path, help="a saved get_top_names dump (n >= ours)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    first_by_country, last_by_country = top_names(args.first, args.last, args.from_json)
    first: set[str] = set()
    for by_gender in first_by_country.values():
        for names in by_gender.values():
            first.update(names[: args.first])
    last: set[str] = set()
    for names in last_by_country.values():
        if isinstance(names, dict):  # some versions nest surnames under a gender key
            names = [n for group in names.values() for n in group]
        last.update(names[: args.last])
    first, last = clean(first), clean(last)
    common = common_words() & (first | last)
    try:
        from importlib.metadata import version

        source = f"names-dataset {version('names-dataset')}"
    except Exception:
        source = "names-dataset"
    header = (
        f"# Built by scripts/build_name_lists.py from {source} (Philippe Remy, "
        "https://github.com/philipperemy/name-dataset, Apache License 2.0): "
        f"top {args.first} first names per country and gender, top {args.last} surnames per "
        f"country, {len(first_by_country)} countries, lower-cased, with accent-folded variants.\n"
    )
    body = "".join(
        f"[{section}]\n" + "".join(f"{w}\n" for w in sorted(words))
        for section, words in (("first", first), ("last", last), ("common", common))
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    # mtime=0: the same input gives byte-identical output
    with open(args.out, "wb") as fh, gzip.GzipFile(fileobj=fh, mode="wb", mtime=0) as gz:
        gz.write((header + body).encode("utf-8"))
    size = args.out.stat().st_size
    print(
        f"{args.out}: {len(first)} first names, {len(last)} surnames, {len(common)} ambiguous, "
        f"{size / 1024:.0f} KiB",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
