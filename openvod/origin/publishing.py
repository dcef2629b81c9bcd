"""Which asset a streaming locator publishes, under which rules: resolved once a second.

A streaming request names only a locator id. The origin needs the asset's
container, the policy's enabled protocols, the locator's time window and
whether a streaming endpoint of the account is running. Those come from the
database; :class:`PublishingResolver` keeps each answer (including "no such
locator") for ``ttl_seconds`` so the hot path makes no query per segment, and
concurrent misses for one locator share one query.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import anyio.to_thread
from sqlalchemy.orm import Session

from openvod.clock import parse_iso, utcnow
from openvod.db.models import Account
from openvod.errors import NotFoundError
from openvod.keys.content_keys import locator_keys
from openvod.keys.master import MasterKey
from openvod.media.filters import ManifestFilter
from openvod.origin.cache import SingleFlight, TtlCache
from openvod.origin.delivery import SchemeDelivery, deliveries_of
from openvod.origin.errors import NotPublishedError
from openvod.origin.filters import load_filters
from openvod.services import endpoints, locators, policies
from openvod.services.repository import (
    account_ref,
    find_by_uuid,
    get_resource,
    list_resources,
)

Protocol = Literal["download", "hls", "dash", "smoothStreaming"]
DEFAULT_TTL_SECONDS = 1.0


@dataclass(frozen=True)
class Publication:
    """What the origin needs to know about one streaming locator."""

    locator_id: str
    container: str
    start: datetime | None
    end: datetime | None
    clear_protocols: frozenset[str]  # enabled by the policy's noEncryption section
    endpoint_running: bool
    max_cache_age_seconds: int | None  # of the running endpoint, None when unset
    deliveries: tuple[SchemeDelivery, ...] = ()  # the encrypting sections, with their keys
    filters: dict[str, ManifestFilter] = field(default_factory=dict)  # asset's and account's
    locator_filters: tuple[str, ...] = ()  # the locator's own filter names

    def check(self, protocol: Protocol, now: datetime) -> None:
        """Raise NotPublishedError unless ``protocol`` may be served (clear or encrypted) ``now``.

        Which scheme a request gets is :func:`~openvod.origin.delivery.choose_delivery`'s call.
        """
        if not self.endpoint_running:
            raise NotPublishedError("No streaming endpoint of the account is running.")
        if self.start is not None and now < self.start:
            raise NotPublishedError("The streaming locator is not valid yet.")
        if self.end is not None and now >= self.end:
            raise NotPublishedError("The streaming locator has expired.")
        if protocol not in self.clear_protocols and not any(
            protocol in d.protocols for d in self.deliveries
        ):
            raise NotPublishedError(f"The streaming policy does not enable {protocol}.")


def parse_locator_id(text: str) -> str | None:
    """The canonical lower-case GUID of a URL segment, or None if it is not one."""
    if len(text) != 36:
        return None
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return None


def load_publication(
    session: Session, locator_id: str, master: MasterKey | None = None
) -> Publication | None:
    """Read a locator's publication from the database; None if the locator is unknown.

    With ``master`` the locator's content keys are unwrapped for dynamic
    encryption; without it, encrypting sections serve nothing.
    """
    row = find_by_uuid(session, locators.KIND, locator_id)
    if row is None:
        return None
    account_row = session.get(Account, row.account_id)
    if account_row is None:
        return None
    account = account_ref(account_row)
    props = row.properties
    asset = get_resource(session, account, "assets", props["assetName"])
    if asset is None:
        return None
    try:
        _, policy = policies.get_properties(session, account, props["streamingPolicyName"])
    except NotFoundError:
        return None
    running = [
        r.properties
        for r in list_resources(session, account, endpoints.KIND)
        if r.properties.get("resourceState") == "Running"
    ]
    deliveries: tuple[SchemeDelivery, ...] = ()
    if master is not None:
        entries = row.extra.get("keys") or props.get("contentKeys") or []
        keys = locator_keys({"contentKeys": entries}, master)
        deliveries = deliveries_of(policy, keys, str(props.get("alternativeMediaId") or ""))
    return Publication(
        locator_id=locator_id,
        container=asset.properties["container"],
        start=_time(props.get("startTime")),
        end=_time(props.get("endTime")),
        clear_protocols=frozenset(policies.enabled_protocols(policy).get("noEncryption", ())),
        endpoint_running=bool(running),
        max_cache_age_seconds=_max_cache_age(running),
        deliveries=deliveries,
        filters=load_filters(session, account, asset.name),
        locator_filters=tuple(props.get("filters") or ()),
    )


def _time(value: Any) -> datetime | None:
    return parse_iso(value) if isinstance(value, str) and value else None


def _max_cache_age(running: list[dict[str, Any]]) -> int | None:
    """The running endpoints' maxCacheAge (the smallest when several set one)."""
    ages = [p["maxCacheAge"] for p in running if isinstance(p.get("maxCacheAge"), int)]
    return min(ages) if ages else None


class PublishingResolver:
    """Locator id -> :class:`Publication`, cached for ``ttl_seconds`` (misses too)."""

    def __init__(
        self,
        load: Callable[[str], Publication | None],
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self._load = load
        # 1-tuples, so that a cached "unknown locator" (None) differs from a miss
        self._cache: TtlCache[str, tuple[Publication | None]] = TtlCache(ttl_seconds)
        self._flights: SingleFlight[str, Publication | None] = SingleFlight()
        self.now = now

    @classmethod
    def for_sessions(
        cls,
        session_scope: Callable[[], Any],
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        master: MasterKey | None = None,
    ) -> PublishingResolver:
        """A resolver reading through ``session_scope`` (e.g. ``Context.session``)."""

        def load(locator_id: str) -> Publication | None:
            with session_scope() as session:
                return load_publication(session, locator_id, master)

        return cls(load, ttl_seconds)

    async def resolve(self, locator_id: str, protocol: Protocol) -> Publication:
        """The publication of a locator if it may serve ``protocol`` now, else NotFoundError."""
        cached = self._cache.get(locator_id)
        publication = cached[0] if cached is not None else await self._fetch(locator_id)
        if publication is None:
            raise NotFoundError("Unknown streaming locator.")
        publication.check(protocol, self.now())
        return publication

    async def _fetch(self, locator_id: str) -> Publication | None:
        return await self._flights.run(locator_id, lambda: self._load_and_keep(locator_id))

    async def _load_and_keep(self, locator_id: str) -> Publication | None:
        publication = await anyio.to_thread.run_sync(self._load, locator_id)
        self._cache.put(locator_id, (publication,))
        return publication

    def clear(self) -> None:
        """Forget every cached answer."""
        self._cache.clear()
