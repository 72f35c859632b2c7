"""Small public datasets shipped with Warden (see ATTRIBUTION.md beside this file)."""

from __future__ import annotations

from importlib import resources

import pandas as pd

ADULT_COLUMNS = [
    "age",
    "workclass",
    "fnlwgt",
    "education",
    "education-num",
    "marital-status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "capital-gain",
    "capital-loss",
    "hours-per-week",
    "native-country",
    "income",
]
ADULT_NUMERIC = ["age", "fnlwgt", "education-num", "capital-gain", "capital-loss", "hours-per-week"]

GERMAN_COLUMNS = [
    "checking_status",
    "duration",
    "credit_history",
    "purpose",
    "credit_amount",
    "savings_status",
    "employment",
    "installment_commitment",
    "personal_status",
    "other_parties",
    "residence_since",
    "property_magnitude",
    "age",
    "other_payment_plans",
    "housing",
    "existing_credits",
    "job",
    "num_dependents",
    "own_telephone",
    "foreign_worker",
    "credit",
]
GERMAN_NUMERIC = [
    "duration",
    "credit_amount",
    "installment_commitment",
    "residence_since",
    "age",
    "existing_credits",
    "num_dependents",
]
# Attribute 9 codes personal status and sex together (UCI documentation).
GERMAN_SEX = {"A91": "male", "A92": "female", "A93": "male", "A94": "male", "A95": "female"}


def _open(name: str):  # type: ignore[no-untyped-def]
    return resources.files(__package__).joinpath(name).open("rb")


def _read_adult(name: str, skiprows: int) -> pd.DataFrame:
    with _open(name) as fh:
        frame = pd.read_csv(
            fh,
            compression="gzip",
            header=None,
            names=ADULT_COLUMNS,
            sep=",",
            skipinitialspace=True,
            na_values="?",
            skiprows=skiprows,
        )
    frame = frame.dropna(how="all")
    frame["income"] = frame["income"].str.rstrip(".")
    for col in ADULT_COLUMNS:
        if col in ADULT_NUMERIC:
            frame[col] = frame[col].astype("int64")
        else:
            frame[col] = frame[col].astype("category")
    return frame.reset_index(drop=True)


def load_adult() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The Adult census data as ``(train, test)``: 32,561 and 16,281 rows.

    Categorical columns are ``category`` dtype (train and test share categories), ``?`` is
    missing, and ``income`` is ``"<=50K"`` or ``">50K"`` (the test file's trailing dots
    removed).
    """
    train = _read_adult("adult.data.gz", skiprows=0)
    test = _read_adult("adult.test.gz", skiprows=1)  # its first line is not data
    for col in ADULT_COLUMNS:
        if col not in ADULT_NUMERIC:
            cats = sorted(set(train[col].cat.categories) | set(test[col].cat.categories))
            train[col] = train[col].cat.set_categories(cats)
            test[col] = test[col].cat.set_categories(cats)
    return train, test


def load_german() -> pd.DataFrame:
    """Statlog German credit: 1,000 rows; ``credit`` is ``"good"``/``"bad"``; ``sex`` is
    derived from ``personal_status`` for fairness audits."""
    with _open("german.data.gz") as fh:
        frame = pd.read_csv(fh, compression="gzip", header=None, names=GERMAN_COLUMNS, sep=" ")
    frame["credit"] = frame["credit"].map({1: "good", 2: "bad"})
    frame["sex"] = frame["personal_status"].map(GERMAN_SEX)
    for col in frame.columns:
        if col not in GERMAN_NUMERIC:
            frame[col] = frame[col].astype("category")
    return frame


__all__ = ["load_adult", "load_german"]
