"""Key delivery: which content keys a request may have, decided per key by its policy.

A key is found by its id among the streaming locators' keys; the content key policy
the locator gave it (``policyName``) is read from the database on every request, so a
policy change takes effect at once. The options whose configuration is
``ContentKeyPolicyClearKeyConfiguration`` are the ones that deliver keys in clear
(HLS AES-128 and SAMPLE-AES keys, W3C ClearKey licenses); a key is given when one of
their restrictions passes (Open, or a valid token). Tokens with a ``maxuses`` claim
are counted in ``key_token_uses`` once per request that delivers a key.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import String, cast, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from openvod.db.models import Account, KeyTokenUse, Resource
from openvod.errors import AuthenticationError, AuthorizationError, NotFoundError, OpenvodError
from openvod.keys.content_keys import ContentKey, read_key_entry
from openvod.keys.master import MasterKey
from openvod.keys.tokens import AcceptedToken, verify_token
from openvod.resources.content_key_policies import (
    ContentKeyPolicyClearKeyConfiguration,
    ContentKeyPolicyOpenRestriction,
    ContentKeyPolicyOption,
)
from openvod.services import content_key_policies as key_policies
from openvod.services.arm import AccountRef
from openvod.services.repository import account_ref, get_resource

LOCATORS = "streamingLocators"


def _locators_holding(session: Session, kid: uuid.UUID) -> list[tuple[Resource, dict]]:
    """(locator row, stored key entry) of every locator holding key ``kid``."""
    text = str(kid)
    rows = session.scalars(select(Resource).where(
        Resource.kind == LOCATORS, cast(Resource.extra, String).contains(text)))
    return [(row, entry) for row in rows for entry in row.extra.get("keys", [])
            if str(entry.get("id", "")).lower() == text]


def _clear_key_options(
    session: Session, account: AccountRef, policy_name: str | None, master: MasterKey
) -> list[ContentKeyPolicyOption]:
    """The ClearKey-configured options of the key's content key policy."""
    if not policy_name:
        raise AuthorizationError("The content key has no content key policy.")
    row = get_resource(session, account, key_policies.KIND, policy_name)
    if row is None:
        raise AuthorizationError("The content key's policy no longer exists.")
    options = key_policies.options_with_secrets(row, master)
    return [o for o in options
            if isinstance(o.configuration, ContentKeyPolicyClearKeyConfiguration)]


def _check_options(
    options: Sequence[ContentKeyPolicyOption], token: str | None, kid: uuid.UUID, now: datetime
) -> AcceptedToken | None:
    """None (open) or the accepted token if one option lets the key out, else the refusal."""
    refusals: list[OpenvodError] = []
    for option in options:
        restriction = option.restriction
        if isinstance(restriction, ContentKeyPolicyOpenRestriction):
            return None
        try:
            return verify_token(token, restriction, kid, now)
        except (AuthenticationError, AuthorizationError) as exc:
            refusals.append(exc)
    if not refusals:
        raise AuthorizationError("The content key policy has no ClearKey option.")
    # A token that was valid but not enough (403) says more than one that was not (401).
    raise next((r for r in refusals if isinstance(r, AuthorizationError)), refusals[0])


def _authorize_one(
    session: Session, master: MasterKey, kid: uuid.UUID, token: str | None, now: datetime
) -> tuple[ContentKey, AcceptedToken | None]:
    """The key ``kid`` and the token that opened it, or the reason it stays closed."""
    holders = _locators_holding(session, kid)
    if not holders:
        raise NotFoundError("Unknown content key.")
    refusal: OpenvodError | None = None
    for row, entry in holders:
        account_row = session.get(Account, row.account_id)
        if account_row is None:
            continue
        key = read_key_entry(entry, master)
        try:
            options = _clear_key_options(session, account_ref(account_row), key.policy_name,
                                         master)
            return key, _check_options(options, token, kid, now)
        except (AuthenticationError, AuthorizationError) as exc:
            refusal = refusal or exc
    raise refusal or NotFoundError("Unknown content key.")


def count_use(session: Session, accepted: AcceptedToken, now: datetime) -> None:
    """Count one use of a token with ``maxuses``; AuthorizationError once it is used up."""
    limit = accepted.max_uses
    if limit is None:
        return
    used_up = AuthorizationError("The token has been used the most times it allows.")
    for _ in range(2):  # a concurrent first use may insert the row between our two steps
        bumped = session.execute(
            update(KeyTokenUse)
            .where(KeyTokenUse.token_hash == accepted.token_hash, KeyTokenUse.uses < limit)
            .values(uses=KeyTokenUse.uses + 1))
        if bumped.rowcount == 1:  # type: ignore[attr-defined]
            return
        if session.get(KeyTokenUse, accepted.token_hash) is not None or limit < 1:
            raise used_up
        try:
            with session.begin_nested():
                session.add(KeyTokenUse(token_hash=accepted.token_hash, uses=1, created_at=now,
                                        expires_at=_expiry(accepted)))
            return
        except IntegrityError:
            continue
    raise used_up


def _expiry(accepted: AcceptedToken) -> datetime | None:
    exp = accepted.claims.get("exp") or accepted.claims.get("ExpiresOn")
    try:
        return datetime.fromtimestamp(int(exp), UTC) if exp is not None else None
    except (TypeError, ValueError, OverflowError):
        return None


def deliver_keys(
    session: Session, master: MasterKey, kids: Sequence[uuid.UUID], token: str | None,
    now: datetime,
) -> list[ContentKey]:
    """The keys among ``kids`` the token (or an open policy) allows, in request order.

    Keys refused are left out; if none is given the first refusal is raised
    (AuthenticationError 401, AuthorizationError 403, NotFoundError 404). A token with
    ``maxuses`` is counted once for the whole request.
    """
    granted: list[ContentKey] = []
    tokens: dict[str, AcceptedToken] = {}
    first_refusal: OpenvodError | None = None
    for kid in dict.fromkeys(kids):
        try:
            key, accepted = _authorize_one(session, master, kid, token, now)
        except (AuthenticationError, AuthorizationError, NotFoundError) as exc:
            first_refusal = first_refusal or exc
            continue
        granted.append(key)
        if accepted is not None:
            tokens[accepted.token_hash] = accepted
    if not granted:
        raise first_refusal or NotFoundError("No content key was asked for.")
    for accepted in tokens.values():
        count_use(session, accepted, now)
    return granted
