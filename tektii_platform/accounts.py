"""Users and their API keys.

A key is ``tk_`` followed by 52 characters of base32 (256 random bits). Only its SHA-256 is
stored: a slow password hash (bcrypt, scrypt) protects low-entropy secrets against
guessing, but a 256-bit random key cannot be guessed, so one fast hash is as safe and keeps
every authenticated request cheap. The first characters (``prefix``) are stored in clear
so that a key can be found and recognised in listings without being revealed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

import attrs

from tektii_core.contracts import TektiiError

from .db import Database
from .ids import new_id, now_db, rfc3339
from .store import Row, api_keys, users

KEY_PREFIX = "tk_"
_PREFIX_LEN = len(KEY_PREFIX) + 8
NAME_PATTERN = re.compile(r"^[A-Za-z0-9._ -]{1,100}$")
LOCAL_USER_META = "local_user_id"
ADMIN, USER = "admin", "user"
ROLES = (ADMIN, USER)


@attrs.frozen
class User:
    id: str
    name: str
    created_at: str  # RFC 3339
    role: str = USER  # ADMIN writes the shared market data; USER everything of their own
    revoked_at: str | None = None  # RFC 3339, once revoked

    @property
    def admin(self) -> bool:
        return self.role == ADMIN

    def to_json(self) -> dict[str, str | None]:
        return {"id": self.id, "name": self.name, "role": self.role, "createdAt": self.created_at}


def _user(row: Row) -> User:
    return User(id=row["id"], name=row["name"], created_at=rfc3339(row["created_at"]), role=row["role"],
                revoked_at=rfc3339(row["revoked_at"]) if row["revoked_at"] else None)


def _hash(api_key: str) -> str:
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()


def _new_key() -> str:
    return KEY_PREFIX + base64.b32encode(secrets.token_bytes(32)).decode("ascii").rstrip("=").lower()


def create_user(db: Database, name: str, *, admin: bool = False) -> tuple[User, str]:
    """Create a user (an ordinary one unless `admin`) and a first API key; the key is
    returned once and never stored."""
    if not NAME_PATTERN.match(name) or name != name.strip():
        raise TektiiError(
            f"Invalid user name {name!r}: use 1-100 letters, digits, spaces, '.', '_' or '-', "
            "not starting or ending with a space."
        )
    with db.transaction():
        user_id, created = new_id("user"), now_db()
        role = ADMIN if admin else USER
        users.insert(db, user_id, name, created, role)
        api_key = create_api_key(db, user_id)
    return User(user_id, name, rfc3339(created), role), api_key


def get_user(db: Database, user_id: str) -> User | None:
    row = users.get(db, user_id)
    return _user(row) if row else None


def list_users(db: Database) -> list[User]:
    return [_user(r) for r in users.list_all(db)]


def active_user_count(db: Database) -> int:
    return users.count_active(db)


def revoke_user(db: Database, user_id: str) -> User:
    """Revoke a user and every key of theirs (their strategies and runs stay). The last
    active admin cannot be revoked: someone must be able to write market data."""
    with db.transaction():
        row = users.get(db, user_id)
        if row is None or row["revoked_at"] is not None:
            raise TektiiError(f"No active user {user_id}", hint="See `tektii platform user list`.")
        if row["role"] == ADMIN and users.count_active(db, ADMIN) <= 1:
            raise TektiiError(f"{user_id} is the last admin and cannot be revoked",
                              hint="Create another admin first: tektii platform user create NAME --admin")
        now = now_db()
        users.revoke(db, user_id, now)
        api_keys.revoke_all_of(db, user_id, now)
    revoked = get_user(db, user_id)
    assert revoked is not None
    return revoked


def create_api_key(db: Database, user_id: str) -> str:
    """Issue a new key for an existing user (earlier keys stay valid until revoked)."""
    api_key = _new_key()
    with db.transaction():
        if not users.is_active(db, user_id):
            raise TektiiError(f"No user {user_id}")
        api_keys.insert(db, new_id("key"), user_id, api_key[:_PREFIX_LEN], _hash(api_key), now_db())
    return api_key


def revoke_api_key(db: Database, key: str) -> bool:
    """Revoke a key given in full or by its id (``key_...``); False if there is no such
    usable key."""
    if key.startswith("key_"):
        return api_keys.revoke(db, now_db(), key_id=key)
    return api_keys.revoke(db, now_db(), key_hash=_hash(key))


def authenticate(db: Database, api_key: str) -> User | None:
    """The user owning a valid, unrevoked key, else None."""
    if not api_key.startswith(KEY_PREFIX) or len(api_key) > 200:
        return None
    digest = _hash(api_key)
    for row in api_keys.candidates(db, api_key[:_PREFIX_LEN]):
        # Constant-time, so response timing reveals nothing about how much of a hash matched.
        if hmac.compare_digest(row["key_hash"], digest) and row["key_revoked_at"] is None and row["revoked_at"] is None:
            return _user(row)
    return None


def ensure_local_user(db: Database) -> User:
    """The local platform's user (an admin: it owns the machine), created on first call."""
    with db.transaction():
        existing = users.get_meta(db, LOCAL_USER_META)
        if existing is not None:
            user = get_user(db, existing)
            if user is not None and user.revoked_at is None:
                return user
        user_id, created = new_id("user"), now_db()
        users.insert(db, user_id, "local", created, ADMIN)
        users.set_meta(db, LOCAL_USER_META, user_id)
        return User(user_id, "local", rfc3339(created), ADMIN)
