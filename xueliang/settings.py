"""Process-wide settings, read from the environment (and an optional ``.env``).

Secrets (``XUELIANG_SECRET_KEY``, camera passwords referenced as ``${ENV}`` in
``cameras.yaml``, ``DATABASE_URL``/``REDIS_URL`` with passwords) only ever come
from the environment; nothing secret has a default that ships to production.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Everything a Xueliang process needs to know about its deployment."""

    model_config = SettingsConfigDict(env_prefix="XUELIANG_", env_file=".env", extra="ignore")

    # Under the working directory (where the operator ran the command), not the package's source tree.
    data_dir: Path = Field(default_factory=lambda: Path.cwd() / "data",
                           description="State: SQLite file, Redis dump, media (default: ./data).")
    cameras_file: Path = Field(default=REPO_ROOT / "configs" / "cameras.yaml")
    models_dir: Path = Field(default=REPO_ROOT / "models")
    samples_dir: Path = Field(default=REPO_ROOT / "samples")
    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "XUELIANG_DATABASE_URL"),
        description="SQLAlchemy URL; None = SQLite file under data_dir.",
    )
    redis_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("REDIS_URL", "XUELIANG_REDIS_URL"),
        description="None = start an embedded Redis-compatible server.",
    )
    redis_appendfsync: Literal["everysec", "always"] = Field(
        default="everysec",
        description="fsync policy of the embedded Redis's append-only file: everysec loses at most ~1 s of writes "
                    "when the server is killed, always loses none at a cost per write.",
    )
    web_host: str = "127.0.0.1"
    web_port: int = 8000
    rtsp_port: int = 8554
    secret_key: str | None = Field(default=None, description="JWT signing key; required outside the demo.")
    token_ttl_s: int = 8 * 3600
    log_level: str = "INFO"
    device_fault_grace_s: float = Field(
        default=300.0, ge=0,
        description="How long a camera stays offline/auth_failed/no_signal/degraded before command/ opens a device-fault work order.",
    )

    mqtt_url: str | None = Field(
        default=None, description="mqtt://host:port of the broker drones and 4G terminals publish telemetry to; "
                                  "unset = no MQTT bridge (HTTP telemetry still works).")
    analytics_metrics_port: int | None = Field(
        default=None, description="Prometheus port of the analytics worker (127.0.0.1); the demo picks a free one.")
    command_metrics_port: int | None = Field(
        default=None, description="Prometheus port of the command worker (127.0.0.1); the demo picks a free one.")

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'xueliang.db').resolve()}"

    def demo_secret_key(self) -> str:
        """The secret key, or for the demo a random one persisted under data_dir."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "demo-secret-key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(32))
            path.chmod(0o600)
        return path.read_text().strip()
