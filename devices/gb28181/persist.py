"""GB/T 28181 devices and channels in the SQL database (SQLite or PostgreSQL).

The tables are created by the Alembic migration ``0010_gb28181`` in
``command/migrations`` (the project's one migration chain); ``devices`` does not
import ``command``, so the table shapes are declared here with SQLAlchemy Core and
must match that migration (a test checks both against a migrated database).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy import Engine

from devices.gb28181.manscdp import CatalogItem
from devices.gb28181.store import GbDevice, is_video_channel

metadata = sa.MetaData()

devices_table = sa.Table(
    "gb28181_devices", metadata,
    sa.Column("device_id", sa.String(20), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, server_default=""),
    sa.Column("manufacturer", sa.String(100), nullable=False, server_default=""),
    sa.Column("model", sa.String(100), nullable=False, server_default=""),
    sa.Column("transport", sa.String(8), nullable=False, server_default="udp"),
    sa.Column("host", sa.String(64), nullable=False, server_default=""),
    sa.Column("port", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("charset", sa.String(16), nullable=False, server_default="GB2312"),
    sa.Column("online", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("registered_at", sa.Float(), nullable=False, server_default="0"),
    sa.Column("last_seen", sa.Float(), nullable=False, server_default="0"),
)

channels_table = sa.Table(
    "gb28181_channels", metadata,
    sa.Column("channel_id", sa.String(20), primary_key=True),
    sa.Column("device_id", sa.String(20), nullable=False, index=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("civil_code", sa.String(20), nullable=False, server_default=""),
    sa.Column("parent_id", sa.String(20), nullable=False, server_default=""),
    sa.Column("manufacturer", sa.String(100), nullable=False, server_default=""),
    sa.Column("model", sa.String(100), nullable=False, server_default=""),
    sa.Column("address", sa.String(200), nullable=False, server_default=""),
    sa.Column("status", sa.String(16), nullable=False, server_default=""),
    sa.Column("lat", sa.Float(), nullable=True),
    sa.Column("lon", sa.Float(), nullable=True),
    sa.Column("ptz_type", sa.Integer(), nullable=True),
    sa.Column("updated_at", sa.Float(), nullable=False),
)


@dataclass(frozen=True)
class ChannelRow:
    channel_id: str
    device_id: str
    name: str
    civil_code: str = ""
    manufacturer: str = ""
    model: str = ""
    address: str = ""
    status: str = ""
    lat: float | None = None
    lon: float | None = None
    ptz_type: int | None = None


def save_device(engine: Engine, dev: GbDevice) -> None:
    row = {"device_id": dev.device_id, "name": dev.name[:200], "manufacturer": dev.manufacturer[:100], "model": dev.model[:100],
           "transport": dev.proto, "host": dev.addr[0], "port": dev.addr[1], "charset": dev.charset, "online": dev.online,
           "registered_at": dev.registered_at, "last_seen": dev.last_seen}
    with engine.begin() as conn:
        updated = conn.execute(devices_table.update().where(devices_table.c.device_id == dev.device_id).values(**row)).rowcount
        if not updated:
            conn.execute(devices_table.insert().values(**row))


def save_catalog(engine: Engine, device_id: str, items: Iterable[CatalogItem]) -> int:
    """Replace the device's channels by the video channels among *items*; returns how many."""
    now = time.time()
    rows = [{"channel_id": it.device_id, "device_id": device_id, "name": it.name[:200], "civil_code": it.civil_code[:20],
             "parent_id": it.parent_id[:20], "manufacturer": it.manufacturer[:100], "model": it.model[:100],
             "address": it.address[:200], "status": it.status[:16], "lat": it.latitude, "lon": it.longitude,
             "ptz_type": it.ptz_type, "updated_at": now} for it in items if is_video_channel(it)]
    with engine.begin() as conn:
        conn.execute(channels_table.delete().where(channels_table.c.device_id == device_id))
        ids = [r["channel_id"] for r in rows]
        for i in range(0, len(ids), 500):  # a channel that moved to this device leaves the old one
            conn.execute(channels_table.delete().where(channels_table.c.channel_id.in_(ids[i:i + 500])))
        if rows:
            conn.execute(channels_table.insert(), rows)
    return len(rows)


def load_channels(engine: Engine) -> list[ChannelRow]:
    c = channels_table.c
    with engine.connect() as conn:
        result = conn.execute(sa.select(c.channel_id, c.device_id, c.name, c.civil_code, c.manufacturer, c.model, c.address,
                                        c.status, c.lat, c.lon, c.ptz_type).order_by(c.channel_id))
        return [ChannelRow(*r) for r in result]


def version(engine: Engine) -> tuple[int, float]:
    """(channel count, newest update): cheap change detection for the registry source."""
    c = channels_table.c
    with engine.connect() as conn:
        n, newest = conn.execute(sa.select(sa.func.count(), sa.func.max(c.updated_at))).one()
    return int(n or 0), float(newest or 0.0)
