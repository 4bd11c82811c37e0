"""Synthetic faults applied to real footage, to measure the diagnosis (tests and ``bench devices``).

Each function takes a clean BGR frame (and a seeded RNG for the severity) and
returns the frame as a faulty camera would deliver it. Severity ranges are what a
maintenance crew would call a fault, not barely-visible nuances.
"""

from __future__ import annotations

from fractions import Fraction

import cv2
import numpy as np

from devices.health.vqd import Fault

# The "camera view" is a window of the source frame so that a camera move can be
# simulated by moving the window (a pan/tilt of ~15-20 % of the field of view).
VIEW_W, VIEW_H = 400, 320
HOME = (40, 20)


def view(frame: np.ndarray, origin: tuple[int, int] = HOME) -> np.ndarray:
    x, y = origin
    return np.ascontiguousarray(frame[y:y + VIEW_H, x:x + VIEW_W])


def blur(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return cv2.GaussianBlur(img, (0, 0), float(rng.uniform(2.5, 5.0)))


def darken(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    gain = rng.uniform(0.08, 0.25)
    noise = rng.normal(0, 1.5, img.shape)
    return np.clip(img.astype(np.float32) * gain + noise, 0, 255).astype(np.uint8)


def overexpose(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = img.astype(np.float32) * rng.uniform(2.2, 3.5) + rng.uniform(30, 80)
    return np.clip(out, 0, 255).astype(np.uint8)


_CASTS = ((0.6, 0.85, 1.3), (1.35, 0.9, 0.6), (0.7, 1.3, 0.7), (1.3, 0.75, 1.2))  # B, G, R gains


def colour_cast(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    gains = np.array(_CASTS[int(rng.integers(len(_CASTS)))], dtype=np.float32)
    gains = 1 + (gains - 1) * rng.uniform(0.8, 1.2)
    return np.clip(img.astype(np.float32) * gains, 0, 255).astype(np.uint8)


def occlude(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Cover 45-85 % of the picture with a dark, slightly uneven object (hand, cloth, bag, leaves)."""
    h, w = img.shape[:2]
    share = rng.uniform(0.45, 0.85)
    side = int(rng.integers(4))
    out = img.copy()
    level = rng.uniform(15, 70)
    if side in (0, 1):  # from the left or right
        cw = int(w * share)
        xs = slice(0, cw) if side == 0 else slice(w - cw, w)
        region = out[:, xs]
    else:               # from the top or bottom
        ch = int(h * share)
        ys = slice(0, ch) if side == 2 else slice(h - ch, h)
        region = out[ys, :]
    rh, rw = region.shape[:2]
    gradient = np.linspace(0, rng.uniform(5, 20), rw, dtype=np.float32)[None, :, None]
    patch = level + gradient + rng.normal(0, 2.0, (rh, rw, 1))
    tint = np.array([1.0, rng.uniform(0.9, 1.1), rng.uniform(0.9, 1.2)], dtype=np.float32)
    region[:] = np.clip(patch * tint, 0, 255).astype(np.uint8)
    return out


def signal_loss_screen(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """What an NVR or encoder shows without input: black, blue 'no video' screen, or colour bars."""
    h, w = img.shape[:2]
    kind = int(rng.integers(3))
    if kind == 0:
        out = np.full((h, w, 3), int(rng.integers(0, 17)), np.uint8)
    elif kind == 1:
        out = np.zeros((h, w, 3), np.uint8)
        out[:] = (int(rng.integers(150, 256)), int(rng.integers(0, 40)), 0)
        cv2.putText(out, "NO VIDEO", (w // 2 - 70, h // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (255, 255, 255), 2)
    else:
        bars = [(192, 192, 192), (0, 192, 192), (192, 192, 0), (0, 192, 0), (192, 0, 192), (0, 0, 192), (192, 0, 0)]
        out = np.zeros((h, w, 3), np.uint8)
        for i, colour in enumerate(bars):
            out[:, i * w // 7:(i + 1) * w // 7] = colour
    return out


def nuisance(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Healthy-camera variation: exposure drift and sensor noise (a new draw per frame)."""
    out = img.astype(np.float32) * rng.uniform(0.75, 1.25) + rng.normal(0, rng.uniform(0.5, 3.0), img.shape)
    return np.clip(out, 0, 255).astype(np.uint8)


def h264_still(img: np.ndarray, frames: int, gop: int = 10) -> list[np.ndarray]:
    """A stuck picture as a camera streams it: the same image through a real H.264 encoder and decoder."""
    import av

    h, w = img.shape[:2]
    codec = av.CodecContext.create("libx264", "w")
    codec.width, codec.height, codec.pix_fmt = w - w % 2, h - h % 2, "yuv420p"
    codec.time_base = Fraction(1, 10)
    codec.options = {"g": str(gop), "bf": "0", "preset": "veryfast"}
    src = av.VideoFrame.from_ndarray(np.ascontiguousarray(img[: codec.height, : codec.width]), format="bgr24")
    packets = []
    for n in range(frames):
        src.pts = n
        packets += codec.encode(src)
    packets += codec.encode(None)
    decoder = av.CodecContext.create("h264", "r")
    out = [f.to_ndarray(format="bgr24") for p in packets for f in decoder.decode(p)]
    out += [f.to_ndarray(format="bgr24") for f in decoder.decode(None)]
    return out


def jpeg(img: np.ndarray, quality: int = 60) -> np.ndarray:
    """Round-trip through JPEG: the compression artefacts every real stream has."""
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    out = cv2.imdecode(buf, cv2.IMREAD_COLOR) if ok else None
    if out is None:
        raise ValueError(f"JPEG round-trip failed for a {img.shape} {img.dtype} image")
    return out


PER_FRAME = {
    Fault.blur: blur,
    Fault.too_dark: darken,
    Fault.overexposed: overexpose,
    Fault.colour_cast: colour_cast,
    Fault.occlusion: occlude,
    Fault.signal_loss: signal_loss_screen,
}
