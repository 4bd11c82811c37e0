"""The naive baseline: one camera per process, the loop the ultralytics docs show.

    python -m analytics.baseline_naive --url rtsp://... --seconds 20

prints one JSON line ``{"frames": n, "seconds": s, "fps": f, "cpu_s": c}`` — results per
second after the first result (model load and stream probing excluded) and the CPU time
the process used meanwhile.

With ``--wait-signal`` the process imports ultralytics, loads the weights and sets the
predictor up on a blank frame, prints ``READY`` and waits for SIGUSR1; then it opens the
stream, takes the first result, prints ``STREAMING`` and waits for a second SIGUSR1 before
the timed loop (whose clock starts at the next result). The benchmark runs those start-up
steps (torch import, RTSP probing: several seconds) while it does unmeasured work of its
own; the timed loop still runs alone on the box.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "0")


def _announce_and_wait(word: str, go: list[int], signals: int) -> None:
    print(word, flush=True)
    while len(go) < signals:
        time.sleep(0.01)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--weights", default="models/yolov8n.pt")
    parser.add_argument("--wait-signal", action="store_true", help="print READY, open the stream on SIGUSR1, print STREAMING, time on the next SIGUSR1")
    args = parser.parse_args(argv)

    from ultralytics import YOLO

    model = YOLO(args.weights)
    go: list[int] = []
    if args.wait_signal:
        import numpy as np

        # The one-time set-up (predictor, fuse, warm-up, tracker) on a blank frame, so that after
        # the first signal only the stream is opened.
        for _ in model.track(source=np.zeros((360, 480, 3), np.uint8), stream=True, verbose=False, persist=True):
            pass
        # A handler, not sigwait: numpy/OpenCV threads exist already and would take a blocked signal's default action.
        signal.signal(signal.SIGUSR1, lambda signum, _frame: go.append(signum))
        _announce_and_wait("READY", go, 1)
    # As in https://docs.ultralytics.com/modes/track/: persist tracks across a live stream.
    results = iter(model.track(source=args.url, stream=True, verbose=False, persist=True))
    if args.wait_signal:
        next(results)  # the stream is open and delivering
        _announce_and_wait("STREAMING", go, 2)
    frames, first, cpu0 = 0, None, 0.0
    for _result in results:
        now = time.monotonic()
        if first is None:  # the clock starts at the first result (after the second signal, with --wait-signal)
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
