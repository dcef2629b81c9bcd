"""Content key policies: how keys are delivered (configurations) and to whom (restrictions).

Plain GET and list leave key material and passwords out;
``getPolicyPropertiesWithSecrets`` returns them. A policy named by a
streaming locator or a streaming policy cannot be deleted.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from openvod.clock import iso
from openvod.db.models import Resource
from openvod.errors import ConflictError
from openvod.keys.master import MasterKey
from openvod.keys.policy_secrets import unwrap_secrets, wrap_secrets
from openvod.resources.content_key_policies import (
    ContentKeyPolicy,
    ContentKeyPolicyOption,
    ContentKeyPolicyUpdate,
    without_secrets,
)
from openvod.services.arm import AccountRef, envelope, page
from openvod.services.names import check_resource_name
from openvod.services.repository import (
    get_resource,
    is_referenced,
    list_resources,
    require_resource,
    save_resource,
)

KIND = "contentKeyPolicies"
TYPE = "Microsoft.Media/mediaservices/contentKeyPolicies"
LABEL = "content key policy"


def _stored_options(
    options: list[ContentKeyPolicyOption], master: MasterKey, policy_id: str
) -> list[dict[str, Any]]:
    # Each option gets its read-only policyOptionId, as AMS assigned one; secrets are wrapped.
    return [wrap_secrets({"policyOptionId": str(uuid.uuid4()), **option.to_json()}, master,
                         policy_id) for option in options]


def create_or_update(
    session: Session, account: AccountRef, name: str, body: ContentKeyPolicy, master: MasterKey
) -> tuple[Resource, bool]:
    """PUT a policy: create it or replace its description and options."""
    check_resource_name(name, LABEL)
    row = get_resource(session, account, KIND, name)
    policy_id = row.resource_uuid if row is not None else str(uuid.uuid4())
    stored = {
        "description": body.properties.description,
        "options": _stored_options(body.properties.options, master, policy_id),
    }
    saved = save_resource(session, account, KIND, name, stored, existing=row,
                          resource_uuid=policy_id)
    return saved, row is None


def update(
    session: Session, account: AccountRef, name: str, body: ContentKeyPolicyUpdate,
    master: MasterKey,
) -> Resource:
    """PATCH a policy: the description and options sent replace the stored ones."""
    row = require_resource(session, account, KIND, name, LABEL)
    stored = dict(row.properties)
    props = body.properties
    if props is not None and "description" in props.model_fields_set:
        stored["description"] = props.description
    if props is not None and props.options is not None:
        stored["options"] = _stored_options(props.options, master, row.resource_uuid)
    return save_resource(session, account, KIND, name, stored, existing=row)


def require_exists(session: Session, account: AccountRef, name: str | None) -> str | None:
    """The stored spelling of a policy another resource names (NotFoundError if none)."""
    if name is None:
        return None
    return require_resource(session, account, KIND, name, LABEL).name


def delete(session: Session, account: AccountRef, name: str) -> bool:
    """Delete a policy no locator or streaming policy names; False if there was none."""
    row = get_resource(session, account, KIND, name)
    if row is None:
        return False
    for kind, what in (("streamingLocators", "streaming locators"),
                       ("streamingPolicies", "streaming policies")):
        if is_referenced(session, account, kind, content_key_policy=row.name):
            raise ConflictError(f"The content key policy '{row.name}' is used by {what}.")
    session.delete(row)
    return True


def options_with_secrets(row: Resource, master: MasterKey) -> list[ContentKeyPolicyOption]:
    """The policy's options as models, secrets unwrapped (for key delivery only)."""
    props = unwrap_secrets(row.properties, master, row.resource_uuid)
    return [ContentKeyPolicyOption.model_validate(option, strict=False)
            for option in props.get("options", [])]


def properties(
    row: Resource, *, with_secrets: bool = False, master: MasterKey | None = None
) -> dict[str, Any]:
    """The policy's ``properties`` as the SDK reads them (secrets only when asked for)."""
    if with_secrets:
        if master is None:
            raise ValueError("secrets need the master key")
        props = unwrap_secrets(row.properties, master, row.resource_uuid)
    else:
        props = without_secrets(row.properties)
    props.update({"policyId": row.resource_uuid, "created": iso(row.created_at),
                  "lastModified": iso(row.modified_at)})
    return props


def to_arm(account: AccountRef, row: Resource) -> dict[str, Any]:
    """A policy as the SDK's ContentKeyPolicy model reads it, without secrets."""
    return envelope(
        arm_id=f"{account.arm_id}/contentKeyPolicies/{row.name}",
        name=row.name,
        type_=TYPE,
        properties=properties(row),
        created=row.created_at,
        modified=row.modified_at,
    )


def list_arm(session: Session, account: AccountRef) -> dict[str, Any]:
    """All policies of an account, without secrets."""
    return page([to_arm(account, r) for r in list_resources(session, account, KIND)])
