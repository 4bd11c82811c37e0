"""Everything one web app instance holds, created in ``create_app`` and kept on ``app.state``.

No module-level state: two apps in one process (tests) never share anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from xueliang.settings import Settings

from web.auth import LoginRateLimiter, TokenRevocations
from web.events import EventHub


@dataclass
class AppContext:
    settings: Settings
    secret_key: str
    redis: Any                       # redis.asyncio.Redis (event loop: WebSocket, rate limit)
    redis_sync: Any                  # redis.Redis (threadpool routes publishing events)
    database: Any                    # command.Database
    store: Any                       # web.store.Store
    hub: EventHub
    limiter: LoginRateLimiter
    revocations: TokenRevocations
    onvif: Any = None                # devices.onvif.OnvifClientPool (PTZ sessions reused across requests)
    cookie_secure: bool = False
    extras: dict[str, Any] = field(default_factory=dict)
