"""The naive baseline: one camera per process, the loop the ultralytics docs show.

    python -m analytics.baseline_naive --url rtsp://... --seconds 20

prints one JSON line ``{"frames": n, "seconds": s, "fps": f, "cpu_s": c}`` — results per
second after the first result (model load and stream probing excluded) and the CPU time
the process used meanwhile.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "0")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--weights", default="models/yolov8n.pt")
    args = parser.parse_args(argv)

    from ultralytics import YOLO

    model = YOLO(args.weights)
    frames, first, cpu0 = 0, None, 0.0
    # As in https://docs.ultralytics.com/modes/track/: persist tracks across a live stream.
    for _result in model.track(source=args.url, stream=True, verbose=False, persist=True):
        now = time.monotonic()
        if first is None:
            first, cpu0 = now, time.process_time()
            continue
        frames += 1
        if now - first >= args.seconds:
            break
    elapsed = (time.monotonic() - first) if first else 0.0
    cpu = (time.process_time() - cpu0) if first else 0.0  # all threads of this process
    print(json.dumps({"frames": frames, "seconds": round(elapsed, 2), "fps": round(frames / elapsed, 2) if elapsed else 0.0,
                      "cpu_s": round(cpu, 2)}))
    sys.stdout.flush()
    os._exit(0)  # ultralytics' stream reader threads would otherwise keep reading the camera


if __name__ == "__main__":
    sys.exit(main())
