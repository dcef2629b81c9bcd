"""A small client of openvod's AMS API, used by the CLI (users may prefer the Azure SDK)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx

API_VERSION = "2022-08-01"
DEFAULT_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
DEFAULT_RESOURCE_GROUP = "openvod"
DEFAULT_ACCOUNT = "openvod"


class ApiError(RuntimeError):
    """An ARM error body returned by the server."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


@dataclass
class OpenvodClient:
    """Calls the management API of one account."""

    base_url: str
    token: str
    subscription_id: str = DEFAULT_SUBSCRIPTION
    resource_group: str = DEFAULT_RESOURCE_GROUP
    account: str = DEFAULT_ACCOUNT
    verify: bool | str = True

    def __post_init__(self) -> None:
        self._http = httpx.Client(
            base_url=self.base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=60,
            verify=self.verify,
        )

    @property
    def prefix(self) -> str:
        """The account's ARM path."""
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.Media/mediaservices/{self.account}"
        )

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """One API call on a path under the account; returns the JSON body or None."""
        response = self._http.request(
            method, self.prefix + path, params={"api-version": API_VERSION}, json=body
        )
        if response.status_code >= 400:
            try:
                error = response.json()["error"]
                raise ApiError(response.status_code, error["code"], error["message"])
            except (ValueError, KeyError):
                raise ApiError(response.status_code, "Error", response.text) from None
        return response.json() if response.content else None

    def search(self, query: str) -> list[dict[str, Any]]:
        """The account's assets whose transcripts or keywords match ``query``, best first."""
        response = self._http.get(self.prefix + "/search",
                                  params={"api-version": API_VERSION, "query": query})
        if response.status_code >= 400:
            try:
                error = response.json()["error"]
            except (ValueError, KeyError):
                raise ApiError(response.status_code, "Error", response.text) from None
            raise ApiError(response.status_code, error["code"], error["message"])
        results: list[dict[str, Any]] = response.json()["results"]
        return results

    def ensure_account(self) -> None:
        """Create the account if it does not exist."""
        self.call("PUT", "", {"location": "local", "properties": {}})

    def list(self, path: str) -> list[dict[str, Any]]:
        """All items of a collection."""
        values: list[dict[str, Any]] = self.call("GET", path)["value"]
        return values

    def wait_for_job(
        self, transform: str, job: str, on_progress: Any = None, timeout_s: float = 3600
    ) -> dict[str, Any]:
        """Poll a job until it ends; ``on_progress(percent, state)`` is called on each poll."""
        deadline = time.monotonic() + timeout_s
        while True:
            doc: dict[str, Any] = self.call("GET", f"/transforms/{transform}/jobs/{job}")
            props = doc["properties"]
            outputs = props.get("outputs") or []
            percent = sum(o.get("progress") or 0 for o in outputs) / max(1, len(outputs))
            if on_progress is not None:
                on_progress(percent, props["state"])
            if props["state"] in ("Finished", "Error", "Canceled"):
                return doc
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job} did not finish in {timeout_s} s")
            time.sleep(0.5)
