"""Console passwords: Argon2id hashes (argon2-cffi's defaults, RFC 9106's second recommendation), and the
account password policy's rules for new ones."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from selfmaker.services.base import ServiceError

MIN_LENGTH = 8  # AWS's default when an account has no password policy
# The characters RequireSymbols asks for one of, as the IAM API documents them.
SYMBOLS = frozenset("!@#$%^&*()_+-=[]{}|'")
_RULES = (
    ("RequireUppercaseCharacters", lambda char: "A" <= char <= "Z", "uppercase letter"),
    ("RequireLowercaseCharacters", lambda char: "a" <= char <= "z", "lowercase letter"),
    ("RequireNumbers", lambda char: "0" <= char <= "9", "number"),
    ("RequireSymbols", lambda char: char in SYMBOLS, "symbol"),
)
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


def password_violation(message: str) -> ServiceError:
    return ServiceError("PasswordPolicyViolation", message, 400)


def check_password_policy(password: str, policy: dict | None = None) -> None:
    """The account's password policy (``policy`` as GetAccountPasswordPolicy answers it), else AWS's default:
    a minimum length of 8. Says the first rule ``password`` breaks: length, then upper and lower case,
    numbers, symbols (letters are A to Z only, symbols those IAM lists in SYMBOLS)."""
    minimum = MIN_LENGTH if policy is None else policy["MinimumPasswordLength"]
    if len(password) < minimum:
        raise password_violation(f"Password should have a minimum length of {minimum}")
    for required, found, what in _RULES:
        if policy is not None and policy.get(required) and not any(found(char) for char in password):
            raise password_violation(f"Password should have at least one {what}")


def used_recently(password: str, hashes: list[str]) -> bool:
    """Whether ``password`` is one of these (earlier passwords' hashes): one Argon2 verification each."""
    return any(verify_password(stored, password) for stored in hashes)
