"""Warden: govern machine-learning models in production."""

from mlwarden import datasets, reports
from mlwarden.api import WardenAPI
from mlwarden.backends import connect
from mlwarden.client import Warden
from mlwarden.engines import drift, explain, fairness
from mlwarden.engines.profile import Profile, profile
from mlwarden.entities import AliasChange, Dataset, Model, ModelVersion
from mlwarden.errors import (
    AlreadyExists,
    AuthenticationError,
    Conflict,
    IntegrityError,
    MissingDependency,
    NotFound,
    PermissionDenied,
    PolicyError,
    PolicyViolation,
    ValidationError,
    WardenError,
)
from mlwarden.monitor.report import MonitorReport
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
    "MonitorReport",
    "NotFound",
    "PermissionDenied",
    "PolicyError",
    "PolicyViolation",
    "Profile",
    "Settings",
    "ValidationError",
    "Warden",
    "WardenAPI",
    "WardenError",
    "__version__",
    "connect",
    "datasets",
    "drift",
    "explain",
    "fairness",
    "profile",
    "reports",
]
