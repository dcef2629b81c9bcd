"""Bearer tokens of the management API, stored only as SHA-256 hashes.

A token may be scoped to some accounts (None: every account), may expire, and
may be revoked. Each has a short public id (``tok_…``) that listings show and
revocation takes; the secret is printed once at creation and never stored.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from openvod.clock import as_utc, iso, utcnow
from openvod.db.models import ApiToken
from openvod.errors import AuthenticationError, InvalidRequestError, NotFoundError
from openvod.services.names import check_account_name

TOKEN_PREFIX = "ovd_"
PUBLIC_ID_PREFIX = "tok_"
MAX_TOKEN_CHARS = 200
# last_used_at is a hint for people auditing tokens, not a log: writing it on
# every request would turn every read into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)
_LIFETIME = re.compile(r"^(?P<count>\d{1,6})(?P<unit>[dhm])$")
_UNITS = {"d": timedelta(days=1), "h": timedelta(hours=1), "m": timedelta(minutes=1)}


@dataclass(frozen=True)
class IssuedToken:
    """A token just created: its public id, and the secret (shown only this once)."""

    public_id: str
    secret: str


@dataclass(frozen=True)
class Grant:
    """What an authenticated request may do: which accounts (None: all of them)."""

    public_id: str
    accounts: frozenset[str] | None

    def allows(self, account_name: str) -> bool:
        """Whether the token may address this account (names are case-insensitive)."""
        return self.accounts is None or account_name.lower() in self.accounts


@dataclass(frozen=True)
class TokenInfo:
    """A token as ``openvod token list`` shows it: everything but the secret."""

    public_id: str
    label: str
    accounts: tuple[str, ...] | None
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_public_id() -> str:
    """A fresh public id, e.g. ``tok_3f9a1c2b7d``."""
    return PUBLIC_ID_PREFIX + secrets.token_hex(5)


def parse_lifetime(text: str) -> timedelta | None:
    """``30d``, ``12h``, ``90m`` as a timedelta; ``never`` as None."""
    cleaned = text.strip().lower()
    if cleaned == "never":
        return None
    match = _LIFETIME.match(cleaned)
    if match is None or int(match["count"]) == 0:
        raise InvalidRequestError(
            f"'{text}' is not a token lifetime: use a whole number of days, hours or minutes "
            "(30d, 12h, 90m) or 'never'."
        )
    return int(match["count"]) * _UNITS[match["unit"]]


def _scope(accounts: Iterable[str] | None) -> list[str] | None:
    if accounts is None:
        return None
    names = sorted({name.lower() for name in accounts})
    if not names:
        raise InvalidRequestError("A scoped token needs at least one account name.")
    for name in names:
        check_account_name(name)
    return names


def issue_token(
    session: Session,
    label: str = "",
    *,
    accounts: Iterable[str] | None = None,
    expires_at: datetime | None = None,
) -> IssuedToken:
    """Make a new random token, store its hash, and return it (the secret is shown once)."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    public_id = new_public_id()
    session.add(
        ApiToken(
            public_id=public_id,
            token_hash=_hash(secret),
            label=label,
            accounts_scope=_scope(accounts),
            created_at=utcnow(),
            expires_at=expires_at,
        )
    )
    session.flush()
    return IssuedToken(public_id, secret)


def create_token(session: Session, label: str = "") -> str:
    """A new all-accounts token that never expires; returns the secret."""
    return issue_token(session, label).secret


def authenticate(session: Session, token: str, now: datetime | None = None) -> Grant:
    """The grant of a presented token, or AuthenticationError saying why not.

    Also records when the token was last used, at most once a minute.
    """
    now = now or utcnow()
    row = None
    if token and len(token) <= MAX_TOKEN_CHARS:
        row = session.scalar(select(ApiToken).where(ApiToken.token_hash == _hash(token)))
    if row is None:
        raise AuthenticationError(
            "The bearer token is not valid.", code="InvalidAuthenticationToken"
        )
    if row.revoked_at is not None:
        raise AuthenticationError(
            f"The bearer token {row.public_id} was revoked at {iso(row.revoked_at)}.",
            code="InvalidAuthenticationToken",
        )
    if row.expires_at is not None and as_utc(row.expires_at) <= now:
        raise AuthenticationError(
            f"The bearer token {row.public_id} expired at {iso(row.expires_at)}.",
            code="ExpiredAuthenticationToken",
        )
    if row.last_used_at is None or now - as_utc(row.last_used_at) >= LAST_USED_RESOLUTION:
        row.last_used_at = now
    scope = frozenset(row.accounts_scope) if row.accounts_scope is not None else None
    return Grant(row.public_id, scope)


def _info(row: ApiToken) -> TokenInfo:
    return TokenInfo(
        public_id=row.public_id,
        label=row.label,
        accounts=tuple(row.accounts_scope) if row.accounts_scope is not None else None,
        created_at=as_utc(row.created_at),
        expires_at=as_utc(row.expires_at) if row.expires_at else None,
        last_used_at=as_utc(row.last_used_at) if row.last_used_at else None,
        revoked_at=as_utc(row.revoked_at) if row.revoked_at else None,
    )


def list_tokens(session: Session) -> list[TokenInfo]:
    """Every token, oldest first (revoked and expired ones too)."""
    rows = session.scalars(select(ApiToken).order_by(ApiToken.created_at, ApiToken.id))
    return [_info(row) for row in rows]


def revoke(session: Session, public_id: str, now: datetime | None = None) -> TokenInfo:
    """Revoke a token by its public id; revoking twice keeps the first time."""
    row = session.scalar(select(ApiToken).where(ApiToken.public_id == public_id.strip().lower()))
    if row is None:
        raise NotFoundError(f"No token has the id '{public_id}'; see 'openvod token list'.")
    if row.revoked_at is None:
        row.revoked_at = now or utcnow()
        session.flush()
    return _info(row)
