"""MobilePosition subscriptions that stay alive (GB/T 28181-2016 §9.11, RFC 6665).

A subscription is a SIP dialog the platform opens with SUBSCRIBE (``Event: presence``,
a MANSCDP ``Query MobilePosition`` body with the report ``Interval``). The device grants
an ``Expires``; before it runs out the platform refreshes **in the same dialog** (same
Call-ID and tags, CSeq + 1, to the device's Contact). A refused or unanswered refresh
opens a new dialog. When the device registers again after being offline, unregistered or
rebooted (a new REGISTER Call-ID), its subscription state is gone: a new dialog is
opened. The platform keeps what it *wants* (device, interval, expiry) apart from the live
dialog, so a device that comes back is subscribed again without anyone asking.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from devices.gb28181 import manscdp
from devices.gb28181.sip import Dialog, contact_target, tag_of

if TYPE_CHECKING:
    from devices.gb28181.platform import GbPlatform

log = logging.getLogger(__name__)


def refresh_after(granted_s: float) -> float:
    """When to refresh a subscription granted for *granted_s*: a minute before it ends, but never
    later than half-way (short expiries in tests and on devices that grant little)."""
    return granted_s - 60.0 if granted_s > 120 else granted_s * 0.5


@dataclass
class Subscription:
    device_id: str
    interval_s: int
    expires_s: int
    dialog: Dialog | None = None
    granted_s: int = 0
    dialogs: int = 0  # dialogs opened (1 + re-subscriptions)
    refreshes: int = 0  # successful in-dialog refreshes
    task: asyncio.Task[None] | None = None


class PositionSubscriptions:
    def __init__(self, platform: GbPlatform) -> None:
        self.platform = platform
        self.wanted: dict[str, Subscription] = {}

    # -- what the platform and the worker call ------------------------------------------------
    def want(self, device_id: str, interval_s: int | None = None, expires_s: int | None = None, *,
             start: bool = True) -> Subscription:
        """Keep *device_id* subscribed from now on (now if it is online, else when it registers)."""
        cfg = self.platform.config
        sub = self.wanted.get(device_id)
        if sub is None:
            sub = self.wanted[device_id] = Subscription(device_id, interval_s or cfg.position_interval_s,
                                                        expires_s or cfg.subscribe_expires_s)
        else:
            sub.interval_s, sub.expires_s = interval_s or sub.interval_s, expires_s or sub.expires_s
        dev = self.platform.store.devices.get(device_id)
        if start and dev is not None and dev.online and sub.task is None:
            self._start(sub)
        return sub

    async def subscribe_now(self, device_id: str, interval_s: int | None = None, expires_s: int | None = None) -> int:
        """Open a new dialog now and keep it; the status of that first SUBSCRIBE (a refusal is retried with back-off)."""
        sub = self.want(device_id, interval_s, expires_s, start=False)
        self._cancel(sub)
        sub.dialog = None
        status = await self.subscribe(sub)
        sub.task = asyncio.ensure_future(self._keep(sub, subscribed=200 <= status < 300))
        return status

    def on_registered(self, device_id: str) -> None:
        """The device registered afresh: whatever it knew of our subscription is gone; open a new dialog."""
        sub = self.wanted.get(device_id)
        dev = self.platform.store.devices.get(device_id)
        if sub is not None:
            self._cancel(sub)
            sub.dialog = None
            if dev is not None and dev.online:
                self._start(sub)

    def on_gone(self, device_id: str) -> None:
        """Offline or unregistered: stop refreshing (the wish stays for when it comes back)."""
        sub = self.wanted.get(device_id)
        if sub is not None:
            self._cancel(sub)
            sub.dialog = None

    def stop(self) -> None:
        for sub in self.wanted.values():
            self._cancel(sub)

    # -- the dialog ---------------------------------------------------------------------------
    def _start(self, sub: Subscription) -> None:
        sub.task = asyncio.ensure_future(self._keep(sub))

    def _cancel(self, sub: Subscription) -> None:
        if sub.task is not None and sub.task is not asyncio.current_task():
            sub.task.cancel()
        sub.task = None

    async def _keep(self, sub: Subscription, *, subscribed: bool = False) -> None:
        """Subscribe, then refresh before each expiry; a failed refresh opens a new dialog (back-off to 60 s)."""
        backoff = 2.0
        try:
            if subscribed:
                await asyncio.sleep(refresh_after(sub.granted_s))
            while True:
                try:
                    status = await (self._refresh(sub) if sub.dialog is not None else self.subscribe(sub))
                except (TimeoutError, LookupError, OSError) as exc:
                    status, reason = 0, str(exc)
                else:
                    reason = str(status)
                if 200 <= status < 300 and sub.granted_s > 0:
                    backoff = 2.0
                    await asyncio.sleep(refresh_after(sub.granted_s))
                    continue
                if sub.dialog is not None:  # the device forgot the dialog (481) or did not answer: a new one, now
                    log.warning("GB28181: MobilePosition subscription of %s: refresh failed (%s); subscribing anew",
                                sub.device_id, reason)
                    sub.dialog = None
                    continue
                log.warning("GB28181: MobilePosition subscription of %s refused: %s; trying again in %.0f s", sub.device_id,
                            reason, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 60.0)
        except asyncio.CancelledError:
            pass

    def _body(self, sub: Subscription, charset: str) -> bytes:
        return manscdp.build("Query", "MobilePosition", self.platform.next_sn(), sub.device_id, {"Interval": sub.interval_s},
                             charset=charset)

    async def subscribe(self, sub: Subscription) -> int:
        """A new dialog: SUBSCRIBE out of dialog; the 2xx's To tag and Contact make the dialog."""
        p = self.platform
        dev = p.device(sub.device_id)
        ep = p.endpoint
        uri = f"sip:{sub.device_id}@{sub.device_id[:10]}"
        req = ep.make_request("SUBSCRIBE", to_uri=uri, from_user=p.config.platform_id, from_domain=p.config.domain,
                              proto=dev.proto, body=self._body(sub, dev.charset),  # type: ignore[arg-type]
                              extra={"Event": "presence", "Expires": str(sub.expires_s)})
        resp = await ep.send_request(req, dev.addr, dev.proto)  # type: ignore[arg-type]
        if 200 <= resp.status_code < 300:
            sub.dialog = Dialog(call_id=req.call_id or "", local_tag=tag_of(req.headers.get_first("from")),
                                remote_tag=tag_of(resp.headers.get_first("to")), remote_uri=uri,
                                local_uri=f"sip:{p.config.platform_id}@{p.config.domain}",
                                remote_target=contact_target(resp, req.uri),
                                cseq=int((req.headers.get_first("cseq") or "1").split()[0]),
                                addr=dev.addr, proto=dev.proto)  # type: ignore[arg-type]
            sub.granted_s = self._granted(resp.headers.get_first("expires"), sub.expires_s)
            sub.dialogs += 1
            log.info("GB28181: MobilePosition of %s subscribed (every %d s, %d s granted, call %s)", sub.device_id,
                     sub.interval_s, sub.granted_s, sub.dialog.call_id)
        return resp.status_code

    async def _refresh(self, sub: Subscription) -> int:
        """SUBSCRIBE in the dialog: same Call-ID and tags, CSeq + 1, to the device's Contact."""
        p, d = self.platform, sub.dialog
        assert d is not None
        dev = p.device(sub.device_id)
        d.cseq += 1
        req = p.endpoint.make_request("SUBSCRIBE", to_uri=d.remote_uri, from_user=p.config.platform_id,
                                      from_domain=p.config.domain, proto=d.proto, call_id=d.call_id, from_tag=d.local_tag,
                                      to_tag=d.remote_tag, cseq=d.cseq, request_uri=d.remote_target,
                                      body=self._body(sub, dev.charset),
                                      extra={"Event": "presence", "Expires": str(sub.expires_s)})
        resp = await p.endpoint.send_request(req, dev.addr, dev.proto)  # type: ignore[arg-type]
        if 200 <= resp.status_code < 300:
            sub.granted_s = self._granted(resp.headers.get_first("expires"), sub.expires_s)
            sub.refreshes += 1
            log.info("GB28181: MobilePosition subscription of %s refreshed (%d s granted)", sub.device_id, sub.granted_s)
        return resp.status_code

    @staticmethod
    def _granted(header: str | None, asked: int) -> int:
        try:
            value = int((header or "").split(";")[0].strip())
        except ValueError:
            return asked
        return max(0, min(value, asked))
