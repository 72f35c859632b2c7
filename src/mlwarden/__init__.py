"""Warden: govern machine-learning models in production.

The public names below load on first use (PEP 562 ``__getattr__``), so ``import mlwarden`` and
the ``mlwarden`` command start in a blink: scikit-learn, pandas, SQLAlchemy and FastAPI arrive
only with the feature that needs them. ``bench/startup.py`` measures it; ``tests/test_startup.py``
keeps it so.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from mlwarden._version import __version__ as __version__

if TYPE_CHECKING:  # the names type checkers and IDEs see; at run time __getattr__ loads them
    from mlwarden import datasets, policy, privacy, reports
    from mlwarden.api import WardenAPI
    from mlwarden.backends import connect
    from mlwarden.client import Warden
    from mlwarden.engines import drift, explain, fairness
    from mlwarden.engines.profile import Profile, profile
    from mlwarden.entities import AliasChange, Dataset, Model, ModelVersion
    from mlwarden.entities.agents import AgentVersion
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

#: public name -> the module that defines it; the names in _MODULES are those modules themselves
_LAZY = {
    "AgentVersion": "mlwarden.entities.agents",
    "AliasChange": "mlwarden.entities",
    "AlreadyExists": "mlwarden.errors",
    "AuthenticationError": "mlwarden.errors",
    "Conflict": "mlwarden.errors",
    "Dataset": "mlwarden.entities",
    "IntegrityError": "mlwarden.errors",
    "MissingDependency": "mlwarden.errors",
    "Model": "mlwarden.entities",
    "ModelVersion": "mlwarden.entities",
    "MonitorReport": "mlwarden.monitor.report",
    "NotFound": "mlwarden.errors",
    "PermissionDenied": "mlwarden.errors",
    "PolicyError": "mlwarden.errors",
    "PolicyViolation": "mlwarden.errors",
    "Profile": "mlwarden.engines.profile",
    "Settings": "mlwarden.settings",
    "ValidationError": "mlwarden.errors",
    "Warden": "mlwarden.client",
    "WardenAPI": "mlwarden.api",
    "WardenError": "mlwarden.errors",
    "connect": "mlwarden.backends",
    "datasets": "mlwarden.datasets",
    "drift": "mlwarden.engines.drift",
    "explain": "mlwarden.engines.explain",
    "fairness": "mlwarden.engines.fairness",
    "policy": "mlwarden.policy",
    "privacy": "mlwarden.privacy",
    "profile": "mlwarden.engines.profile",
    "reports": "mlwarden.reports",
}

_MODULES = {"datasets", "drift", "explain", "fairness", "policy", "privacy", "reports"}

__all__ = [
    "AgentVersion",
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
    "connect",
    "datasets",
    "drift",
    "explain",
    "fairness",
    "policy",
    "privacy",
    "profile",
    "reports",
]


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'mlwarden' has no attribute {name!r}")
    module = importlib.import_module(module_name)
    value = module if name in _MODULES else getattr(module, name)
    globals()[name] = value  # later look-ups skip __getattr__
    return value


def __dir__() -> list[str]:
    return list(__all__)
