"""Everything one web app instance holds, created in ``create_app`` and kept on ``app.state``.

No module-level state: two apps in one process (tests) never share anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from redis import Redis
from redis.asyncio import Redis as AsyncRedis

from command import Database
from devices import MobileTracker
from xueliang.settings import Settings

from web.auth import LoginRateLimiter, TokenRevocations
from web.cameras import CameraDirectory
from web.device_status import DeviceStatusBoard
from web.events import EventHub
from web.store import Store

if TYPE_CHECKING:
    from devices.onvif import OnvifClientPool  # zeep: loaded at start-up by the app, not by importing this module


@dataclass
class AppContext:
    settings: Settings
    secret_key: str
    redis: AsyncRedis                # event loop: WebSocket, rate limit
    redis_sync: Redis                # threadpool routes publishing events
    database: Database
    store: Store
    hub: EventHub
    limiter: LoginRateLimiter
    revocations: TokenRevocations
    cameras: CameraDirectory
    device_status: DeviceStatusBoard
    mobile: MobileTracker
    onvif: OnvifClientPool           # PTZ sessions reused across requests
    cookie_secure: bool = False
