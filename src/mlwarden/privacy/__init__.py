"""Privacy: find personal data in frames (``scan``) and mask it (``MaskingPolicy``).

report = mlwarden.privacy.scan(df)          # PrivacyReport; report.pii_features
policy = MaskingPolicy.from_report(report, keyring=KeyRing.load_or_create("keys.json"))
masked = policy.apply(df)                    # or policy.apply_record(inputs)
"""

from mlwarden.privacy.keys import KeyRing
from mlwarden.privacy.masking import MaskingPolicy, canonical_text
from mlwarden.privacy.policy import ACTIONS, Rule
from mlwarden.privacy.recognizers import Recognizer, default_recognizers
from mlwarden.privacy.report import ColumnFinding, PrivacyReport
from mlwarden.privacy.scan import PIIScanner, scan

__all__ = [
    "ACTIONS",
    "ColumnFinding",
    "KeyRing",
    "MaskingPolicy",
    "PIIScanner",
    "PrivacyReport",
    "Recognizer",
    "Rule",
    "canonical_text",
    "default_recognizers",
    "scan",
]
