"""Errors raised by the ONVIF client, each naming the device and the operation.

Callers (health monitoring, the CLI, PTZ control from web/) branch on the class:
auth problems need an operator to fix credentials, timeouts mean the device or
network is down, protocol errors mean the device answered something unusable.
"""

from __future__ import annotations


class OnvifError(Exception):
    """Base class: something went wrong talking ONVIF to ``device`` during ``operation``."""

    def __init__(self, device: str, operation: str, message: str) -> None:
        self.device = device
        self.operation = operation
        self.detail = message
        super().__init__(f"ONVIF {operation} on {device}: {message}")


class OnvifAuthError(OnvifError):
    """The device rejected the credentials (wrong user/password, or a clock too far off)."""


class OnvifTimeout(OnvifError):
    """The device did not connect or answer within the timeout."""


class OnvifConnectionError(OnvifTimeout):
    """The device could not be reached at all (refused, unreachable, DNS)."""


class OnvifProtocolError(OnvifError):
    """The device answered, but not with a usable SOAP response (garbage, XML bomb, fault)."""


class OnvifNotSupported(OnvifError):
    """The device does not offer this service or operation (e.g. PTZ on a fixed camera)."""
