"""GB/T 28181 platform side: the SIP server devices, NVRs, drones and 4G terminals register to.

Public API (other packages import from here)::

    from devices.gb28181 import GbConfig, GbPlatform, GbEvents, GbAlarm, GbDevice, CatalogItem, Invite
    from devices.gb28181 import ptz  # PTZCmd builder

See docs/gb28181.md.
"""

from typing import TYPE_CHECKING

from devices.gb28181 import ptz
from devices.gb28181.config import GbConfig
from devices.gb28181.ids import GbIdError, is_id, validate_id
from devices.gb28181.manscdp import CatalogItem, ManscdpError
from devices.gb28181.platform import GbAlarm, GbEvents, GbPlatform, Invite
from devices.gb28181.sdp import MediaMode, SdpAnswer
from devices.gb28181.store import GbDevice, Position

__all__ = ["CatalogItem", "GbAlarm", "GbConfig", "GbDevice", "GbEvents", "GbIdError", "GbPlatform", "Invite",
           "ManscdpError", "MediaMode", "Position", "SdpAnswer", "is_id", "ptz", "validate_id",
           "ChannelMapping", "GbChannelSource", "channel_cameras", "control_headers", "registry_sources",
           "stream_url"]  # the last six load lazily

if TYPE_CHECKING:  # the lazy names below, spelled out for type checkers
    from devices.gb28181.cameras import (
        ChannelMapping,
        GbChannelSource,
        channel_cameras,
        control_headers,
        registry_sources,
        stream_url,
    )


def __getattr__(name: str) -> object:
    # Registry/database pieces load lazily: the SIP server alone needs no SQLAlchemy models.
    if name in ("ChannelMapping", "GbChannelSource", "channel_cameras", "control_headers", "registry_sources", "stream_url"):
        from devices.gb28181 import cameras
        return getattr(cameras, name)
    raise AttributeError(f"module 'devices.gb28181' has no attribute {name!r}")
