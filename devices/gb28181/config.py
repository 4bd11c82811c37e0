"""GB/T 28181 platform settings, from the environment (secrets never from files)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from devices.gb28181.ids import domain_of, validate_id

ENV_PREFIX = "XUELIANG_GB28181_"

MIN_TOKEN_LEN = 16
TOKEN_ENV = "XUELIANG_GB28181_MEDIA_TOKEN"
_TOKEN_CHARS = re.compile(r"^[A-Za-z0-9._~-]+$")  # URL-safe: it travels as the password of stream URLs
TOKEN_USER = "gb"  # the Basic user name in stream URLs (any name is accepted; the token is the password)


def check_token(value: str, where: str = TOKEN_ENV) -> str:
    """*value* if it can be the media token (≥ 16 URL-safe characters); the error names *where*, never the value."""
    if len(value) < MIN_TOKEN_LEN or not _TOKEN_CHARS.match(value):
        raise ValueError(f"{where} is {'not set' if not value else 'too short or not URL-safe'}: export a random secret of at least "
                         f"{MIN_TOKEN_LEN} characters (e.g. python3 -c 'import secrets; print(secrets.token_urlsafe(24))') "
                         "in the GB worker and in the web and analytics processes")
    return value


def token_from_env(env: Mapping[str, str] | None = None) -> str:
    """The PS/control endpoint's token (``XUELIANG_GB28181_MEDIA_TOKEN``); refuses a missing or short one."""
    return check_token((os.environ if env is None else env).get(TOKEN_ENV, ""))


@dataclass(frozen=True)
class GbConfig:
    """One platform identity and its SIP listener.

    Passwords: ``XUELIANG_GB28181_PASSWORD_<device id>`` for one device, else the shared
    ``XUELIANG_GB28181_PASSWORD``. A device with neither is refused (403, logged as unknown).
    """

    platform_id: str = "34020000002000000001"
    host: str = "0.0.0.0"
    port: int = 5060
    advertised_host: str | None = None
    password: str | None = field(default=None, repr=False)
    device_passwords: Mapping[str, str] = field(default_factory=dict, repr=False)
    keepalive_interval_s: float = 60.0
    keepalive_missed: int = 3
    register_expires_max: int = 3600
    reply_to_via: bool = False  # False: answer the packet's source address (what works behind NAT)
    auto_query: bool = True  # Catalog + DeviceInfo after a REGISTER
    catalog_timeout_s: float = 30.0
    max_catalog_items: int = 100_000
    transaction_timeout_s: float = 8.0
    position_interval_s: int = 5  # MobilePosition report interval asked in SUBSCRIBE
    subscribe_expires_s: int = 3600  # MobilePosition subscription expiry; refreshed a minute before (half-way if short)

    def __post_init__(self) -> None:
        validate_id(self.platform_id, what="platform id (XUELIANG_GB28181_ID)")

    @property
    def domain(self) -> str:
        return domain_of(self.platform_id)

    def password_for(self, device_id: str) -> str | None:
        return self.device_passwords.get(device_id) or self.password

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> GbConfig:
        env = os.environ if env is None else env
        per_device = {k[len(ENV_PREFIX) + len("PASSWORD_"):]: v for k, v in env.items()
                      if k.startswith(ENV_PREFIX + "PASSWORD_") and len(k) == len(ENV_PREFIX) + len("PASSWORD_") + 20}
        values: dict[str, object] = {"device_passwords": per_device}
        simple = {"ID": ("platform_id", str), "HOST": ("host", str), "PORT": ("port", int),
                  "ADVERTISED_HOST": ("advertised_host", str), "PASSWORD": ("password", str),
                  "KEEPALIVE_S": ("keepalive_interval_s", float), "REGISTER_EXPIRES_MAX": ("register_expires_max", int),
                  "POSITION_INTERVAL_S": ("position_interval_s", int), "SUBSCRIBE_EXPIRES": ("subscribe_expires_s", int)}
        for suffix, (name, conv) in simple.items():
            raw = env.get(ENV_PREFIX + suffix)
            if raw:
                try:
                    values[name] = conv(raw)
                except ValueError:
                    raise ValueError(f"{ENV_PREFIX + suffix}={raw!r} is not a valid {conv.__name__}") from None
        if env.get(ENV_PREFIX + "REPLY_TO") == "via":
            values["reply_to_via"] = True
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]
