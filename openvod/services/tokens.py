"""Bearer tokens of the management API, stored only as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from openvod.clock import utcnow
from openvod.db.models import ApiToken

TOKEN_PREFIX = "ovd_"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(session: Session, label: str = "") -> str:
    """Make a new random token, store its hash, and return the token (shown once)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(token_hash=_hash(token), label=label, created_at=utcnow()))
    session.flush()
    return token


def is_valid(session: Session, token: str) -> bool:
    """Whether a presented token is one that was issued."""
    if not token or len(token) > 200:
        return False
    found = session.scalar(select(ApiToken.id).where(ApiToken.token_hash == _hash(token)))
    return found is not None
