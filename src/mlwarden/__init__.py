"""Warden: govern machine-learning models in production."""

from mlwarden import datasets
from mlwarden.client import Warden
from mlwarden.entities import AliasChange, Dataset, Model, ModelVersion
from mlwarden.errors import (
    AlreadyExists,
    AuthenticationError,
    Conflict,
    IntegrityError,
    MissingDependency,
    NotFound,
    PermissionDenied,
    PolicyViolation,
    ValidationError,
    WardenError,
)
from mlwarden.settings import Settings

__version__ = "0.1.0"

__all__ = [
    "AliasChange",
    "AlreadyExists",
    "AuthenticationError",
    "Conflict",
    "Dataset",
    "IntegrityError",
    "MissingDependency",
    "Model",
    "ModelVersion",
    "NotFound",
    "PermissionDenied",
    "PolicyViolation",
    "Settings",
    "ValidationError",
    "Warden",
    "WardenError",
    "__version__",
    "datasets",
]
