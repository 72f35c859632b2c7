"""Access control: roles, users, API tokens, approvals with separation of duties.

See docs/access.md for the rules, single-user mode and what the server will enforce.
"""

from mlwarden.access.approvals import DEFAULT_REQUIRED, ApprovalService
from mlwarden.access.recorder import DENIED, Recorder
from mlwarden.access.roles import PERMISSIONS, ROLES, allowed, require_role
from mlwarden.access.users import SINGLE_USER, TOKEN_PREFIX, AccessService, hash_token
from mlwarden.entities.access import Approval, ApprovalStatus, NewToken, Token, User

__all__ = [
    "DEFAULT_REQUIRED",
    "DENIED",
    "PERMISSIONS",
    "ROLES",
    "SINGLE_USER",
    "TOKEN_PREFIX",
    "AccessService",
    "Approval",
    "ApprovalService",
    "ApprovalStatus",
    "NewToken",
    "Recorder",
    "Token",
    "User",
    "allowed",
    "hash_token",
    "require_role",
]
