"""PTZCmd of DeviceControl: the 8-byte PELCO-like command GB/T 28181 appendix A.3 defines."""

from __future__ import annotations

from dataclasses import dataclass

RIGHT, LEFT, DOWN, UP, ZOOM_IN, ZOOM_OUT = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
PRESET_SET, PRESET_CALL, PRESET_DELETE = 0x81, 0x82, 0x83


@dataclass(frozen=True)
class PtzMove:
    """Speeds 0–255 (pan, tilt) and 0–15 (zoom); the sign picks the direction, 0 stops that axis."""

    pan: int = 0
    tilt: int = 0
    zoom: int = 0

    def command(self) -> str:
        bits = 0
        if self.pan > 0:
            bits |= RIGHT
        elif self.pan < 0:
            bits |= LEFT
        if self.tilt > 0:
            bits |= UP
        elif self.tilt < 0:
            bits |= DOWN
        if self.zoom > 0:
            bits |= ZOOM_IN
        elif self.zoom < 0:
            bits |= ZOOM_OUT
        return ptz_cmd(bits, min(abs(self.pan), 255), min(abs(self.tilt), 255), min(abs(self.zoom), 15))


def ptz_cmd(command: int, byte5: int = 0, byte6: int = 0, zoom: int = 0, address: int = 0) -> str:
    """Hex string of ``A5 0F addr cmd b5 b6 (zoom<<4 | addr_hi) checksum``; checksum = sum(bytes 1–7) mod 256."""
    for name, v, hi in (("command", command, 255), ("byte5", byte5, 255), ("byte6", byte6, 255), ("zoom", zoom, 15), ("address", address, 0xFFF)):
        if not 0 <= v <= hi:
            raise ValueError(f"PTZ {name} {v} outside 0..{hi}")
    b = [0xA5, 0x0F, address & 0xFF, command, byte5, byte6, ((zoom & 0x0F) << 4) | ((address >> 8) & 0x0F)]
    b.append(sum(b) % 256)
    return "".join(f"{x:02X}" for x in b)


def preset(action: int, number: int) -> str:
    """Set/call/delete preset ``number`` (1–255)."""
    if action not in (PRESET_SET, PRESET_CALL, PRESET_DELETE):
        raise ValueError("preset action must be PRESET_SET, PRESET_CALL or PRESET_DELETE")
    if not 1 <= number <= 255:
        raise ValueError(f"preset number {number} outside 1..255")
    return ptz_cmd(action, 0, number)


STOP = ptz_cmd(0)
