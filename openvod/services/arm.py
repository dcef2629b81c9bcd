"""ARM envelope helpers: resource ids, types, systemData, list pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from openvod.clock import iso

PROVIDER = "Microsoft.Media"


@dataclass(frozen=True)
class AccountRef:
    """The account a request addresses, as stored."""

    id: int
    name: str
    subscription_id: str
    resource_group: str
    location: str

    @property
    def arm_id(self) -> str:
        """The account's ARM resource id."""
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/{PROVIDER}/mediaservices/{self.name}"
        )


def system_data(created: datetime, modified: datetime, actor: str = "openvod") -> dict[str, Any]:
    """The ARM ``systemData`` block."""
    return {
        "createdBy": actor,
        "createdByType": "User",
        "createdAt": iso(created),
        "lastModifiedBy": actor,
        "lastModifiedByType": "User",
        "lastModifiedAt": iso(modified),
    }


def envelope(
    *,
    arm_id: str,
    name: str,
    type_: str,
    properties: dict[str, Any],
    created: datetime,
    modified: datetime,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An ARM resource document: id, name, type, properties, systemData (+ location/tags/sku)."""
    doc: dict[str, Any] = {"id": arm_id, "name": name, "type": type_}
    if extra:
        doc.update(extra)
    doc["properties"] = properties
    doc["systemData"] = system_data(created, modified)
    return doc


def page(values: list[dict[str, Any]], next_link: str | None = None) -> dict[str, Any]:
    """A list response as ARM/AMS pages them."""
    body: dict[str, Any] = {"value": values}
    if next_link:
        body["@odata.nextLink"] = next_link
    return body
