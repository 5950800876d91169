"""Console passwords: Argon2id hashes (argon2-cffi's defaults, RFC 9106's second recommendation)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from selfmaker.services.base import ServiceError

MIN_LENGTH = 8
_hasher = PasswordHasher()
# Verified against when there is no such user, so a wrong name costs what a wrong password costs.
_DUMMY_HASH = _hasher.hash("selfmaker-no-such-user")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; with no hash, spends the same time and says False."""
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def check_password_policy(password: str) -> None:
    """The account's password policy: AWS's default minimum length."""
    if len(password) < MIN_LENGTH:
        raise ServiceError(
            "PasswordPolicyViolation", f"Password should have a minimum length of {MIN_LENGTH}", 400
        )
