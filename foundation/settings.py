"""Configuration from the environment (and an optional ``.env``), with embedded defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from foundation.links import load_or_create_secret

# The task queues the engine's workers poll: real incidents, and live exercises (`--live`).
TASK_QUEUE = "contingency-response"
EXERCISE_TASK_QUEUE = "contingency-exercise"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CONTINGENCY_", env_file=".env", extra="ignore", populate_by_name=True
    )

    data_dir: Path = Path(".contingency")
    # Empty means the embedded default: a SQLite file in the data directory.
    database_url: str = Field(
        default="", validation_alias=AliasChoices("DATABASE_URL", "CONTINGENCY_DATABASE_URL")
    )

    temporal_address: str = Field(
        default="localhost:7233",
        validation_alias=AliasChoices("TEMPORAL_ADDRESS", "CONTINGENCY_TEMPORAL_ADDRESS"),
    )
    temporal_namespace: str = Field(
        default="default",
        validation_alias=AliasChoices("TEMPORAL_NAMESPACE", "CONTINGENCY_TEMPORAL_NAMESPACE"),
    )
    # TLS for a real cluster: client certificate and key (mTLS) and, if private, the CA.
    temporal_tls: bool = Field(
        default=False, validation_alias=AliasChoices("TEMPORAL_TLS", "CONTINGENCY_TEMPORAL_TLS")
    )
    temporal_tls_cert: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("TEMPORAL_TLS_CERT", "CONTINGENCY_TEMPORAL_TLS_CERT"),
    )
    temporal_tls_key: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("TEMPORAL_TLS_KEY", "CONTINGENCY_TEMPORAL_TLS_KEY"),
    )
    temporal_tls_ca: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("TEMPORAL_TLS_CA", "CONTINGENCY_TEMPORAL_TLS_CA"),
    )
    temporal_api_key: str | None = Field(
        default=None,
        validation_alias=AliasChoices("TEMPORAL_API_KEY", "CONTINGENCY_TEMPORAL_API_KEY"),
    )
    task_queue: str = TASK_QUEUE

    log_format: Literal["console", "json"] = "console"
    log_level: str = "INFO"

    notification_sink: Literal["log", "webhook", "exercise"] = "log"
    # The webhook sink: a JSON POST per step, signed with HMAC-SHA256 over "<timestamp>.<body>".
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=120)

    # Reaching people (docs/communications.md). The contacts file maps audiences to channel
    # URLs; unset, it is <data_dir>/contacts.yaml, and no such file means no channels. A file
    # named here must exist: a typo in its name must not silently mean "tell no one".
    contacts_file: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("CONTINGENCY_CONTACTS", "CONTINGENCY_CONTACTS_FILE"),
    )
    # NAME=value lines for the ${NAME} placeholders of the contacts file's URLs (the
    # environment is read first). Keep it readable by the engine's user only.
    secrets_file: Path | None = None
    # Templates that replace the embedded ones of the same name (activities/templates/notices).
    templates_dir: Path | None = None
    # Messages to one notice's recipients in flight at once.
    notice_concurrency: int = Field(default=8, ge=1, le=100)
    # Where the engine's links point (the answer and acknowledgement pages): {public_url}/r/<token>.
    public_url: str = "http://127.0.0.1:8000"
    # Signs those links; unset, one is generated into <data_dir>/link-secret (mode 0600) and
    # reused, so links sent before a restart still open.
    link_secret: SecretStr | None = None

    # The HTTP API (`contingency up`, `contingency api`).
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=0, le=65535)
    # Slow clients: a request's headers must arrive within this many seconds of its first byte
    # (or of the connection), its body within _BODY_ of its start, else 408 and the connection
    # closes (CONTINGENCY_API_HEADER_TIMEOUT_SECONDS, CONTINGENCY_API_BODY_TIMEOUT_SECONDS).
    api_header_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    api_body_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    # Reports whose observed time is further ahead of the server clock than this are refused.
    api_clock_skew_seconds: float = Field(default=300.0, ge=0)
    # Violation reports accepted per API token: a sustained rate per minute, and the burst a
    # token may send at once on top of it (CONTINGENCY_INTAKE_RATE_PER_MINUTE, _INTAKE_BURST).
    # Beyond it the intake answers 429 with Retry-After. Counted per API process.
    intake_rate_per_minute: float = Field(default=120.0, gt=0)
    intake_burst: int = Field(default=120, ge=1)
    # Evidence, commitments and decisions per API token, the same way (_WRITE_RATE_PER_MINUTE,
    # _WRITE_BURST); board sign-ins per client address (_SIGN_IN_RATE_PER_MINUTE, _SIGN_IN_BURST).
    write_rate_per_minute: float = Field(default=120.0, gt=0)
    write_burst: int = Field(default=60, ge=1)
    sign_in_rate_per_minute: float = Field(default=10.0, gt=0)
    sign_in_burst: int = Field(default=10, ge=1)
    # Plan hours per real hour for the incidents the API opens (CONTINGENCY_TIME_SCALE).
    # FOR TEST AND EXERCISE DEPLOYMENTS ONLY: 3600 runs the 72-hour plan in 72 s (the fault
    # tests use it). A deployment that handles real incidents keeps the default, 1.
    time_scale: float = Field(default=1.0, gt=0, le=1_000_000)
    # The local Temporal dev server `contingency up` starts when TEMPORAL_ADDRESS is not set.
    temporal_port: int = Field(default=7233, ge=1, le=65535)
    temporal_ui_port: int = Field(default=8233, ge=1, le=65535)
    # How long that dev server keeps a closed incident's history (CONTINGENCY_TEMPORAL_RETENTION_DAYS):
    # the ledger audit anchors to it, and an incident closed longer ago is "beyond retention".
    temporal_retention_days: int = Field(default=90, ge=1, le=3650)

    # The operators' view (README "Metrics, tracing and logs", "Situation board").
    # The worker serves Prometheus metrics (the Temporal SDK's and the engine's) on this port;
    # unset, it serves none. The API always serves its own at /metrics.
    metrics_port: int | None = Field(default=None, ge=0, le=65535)
    metrics_host: str = "127.0.0.1"
    # Tracing is off unless set: "console" prints spans, an http(s) URL is an OTLP/HTTP collector.
    tracing_export: str = ""
    # Where the board's links into the Temporal Web UI point; the local dev server's UI when unset.
    temporal_ui_url: str | None = None

    # Worker tuning: one worker process serves thousands of waiting incidents.
    max_concurrent_activities: int = 100
    max_concurrent_workflow_tasks: int = 100
    max_cached_workflows: int = 10000

    @model_validator(mode="after")
    def _embedded_database(self) -> Settings:
        if not self.database_url:
            self.database_url = (
                f"sqlite+aiosqlite:///{(self.data_dir / 'contingency.db').resolve()}"
            )
        return self

    @property
    def contacts_path(self) -> tuple[Path, bool]:
        """The contacts file, and whether it was named (and so must exist)."""
        if self.contacts_file is not None:
            return self.contacts_file, True
        return self.data_dir / "contacts.yaml", False

    def link_secret_bytes(self) -> bytes:
        if self.link_secret is not None and self.link_secret.get_secret_value():
            return self.link_secret.get_secret_value().encode()
        return load_or_create_secret(self.data_dir / "link-secret")

    @property
    def ui_base_url(self) -> str:
        return (self.temporal_ui_url or f"http://127.0.0.1:{self.temporal_ui_port}").rstrip("/")

    def ensure_data_dir(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
