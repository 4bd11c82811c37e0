"""``xueliang models export`` and ``xueliang analytics run`` (the analytics worker process)."""

from __future__ import annotations

import argparse
import hashlib
import logging
import signal
import sys
from pathlib import Path

from analytics.detector import BACKENDS
from xueliang.runtime import stop_requested_by_signals

log = logging.getLogger("analytics")


def register(sub: argparse._SubParsersAction) -> None:
    models = sub.add_parser("models", help="detector models: export the shipped weights to ONNX")
    models_sub = models.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    export = models_sub.add_parser("export", help="export models/yolov8n.pt to models/yolov8n.onnx (dynamic batch/shape, opset 17)")
    export.add_argument("--weights", type=Path, default=None, help="default: <models_dir>/yolov8n.pt")
    export.add_argument("--if-missing", action="store_true", help="keep an existing .onnx")
    export.set_defaults(func=_export)
    quantize = models_sub.add_parser(
        "quantize", help="INT8 model (static quantisation on sample frames, detect head kept in float), checked against float")
    quantize.add_argument("--frames", type=int, default=20, help="calibration frames from the 640×360 sample (default 20)")
    quantize.add_argument("--min-agreement", type=float, default=0.9,
                          help="fail (exit 1, model kept for inspection) below this box agreement with float")
    quantize.set_defaults(func=_quantize)

    analytics = sub.add_parser("analytics", help="video analytics")
    analytics_sub = analytics.add_subparsers(dest="analytics_command", required=True, metavar="ACTION")
    run = analytics_sub.add_parser("run", help="the analytics worker: watch continuous cameras, publish alerts to xl:alerts")
    run.add_argument("--cameras", type=Path, default=None, help="default: XUELIANG_CAMERAS_FILE")
    run.add_argument("--only", nargs="*", default=None, help="analyse only these camera ids")
    run.add_argument("--imgsz", type=int, default=0,
                     help="detector input long side; 0 = the stream's own size, at most 640 (default)")
    run.add_argument("--backend", choices=BACKENDS, default="onnxruntime",
                     help="inference runtime for the ONNX model; openvino is an optional extra (pip install 'xueliang[openvino]')")
    run.add_argument("--max-batch", type=int, default=8, help="most frames per inference call")
    run.add_argument("--max-wait-ms", type=float, default=60.0, help="longest a frame waits for a batch to fill")
    run.add_argument("--no-gate", action="store_true", help="disable the motion gate (infer every frame)")
    run.add_argument("--no-clips", action="store_true", help="do not write evidence clips")
    run.add_argument("--metrics-port", type=int, default=None,
                     help="serve Prometheus metrics on 127.0.0.1:PORT/metrics (per-camera fps, gate, inference, alerts)")
    run.add_argument("--patrol", action="store_true",
                     help="also analyse patrol cameras: one keyframe per camera every ≥10 s (轮巡)")
    run.add_argument("--health-sample-s", type=float, default=5.0,
                     help="device health: diagnose one frame per camera this often (default 5 s); 0 = no device.status")
    run.add_argument("--int8", action="store_true",
                     help="use the INT8 model from `xueliang models quantize` (≈1.3-1.5× images per CPU-second)")
    run.set_defaults(func=_run)

    from analytics.cluster.cli import add_parser as add_cluster_parser

    add_cluster_parser(analytics_sub)  # `analytics cluster`: the same analysis as Ray actors (docs/cluster.md)


def _export(args: argparse.Namespace) -> int:
    from analytics.models import DEFAULT_WEIGHTS, export_onnx
    from xueliang.settings import Settings

    weights = args.weights or Settings().models_dir / DEFAULT_WEIGHTS
    try:
        path = export_onnx(weights, if_missing=args.if_missing)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(path)
    return 0


def resolve_model(models_dir: Path, int8: bool) -> Path:
    """The float ONNX model (exported once if missing), or its INT8 variant; FileNotFoundError says what to run."""
    from analytics.models import ensure_onnx
    from analytics.quantize import int8_path_for

    model = ensure_onnx(models_dir)
    if int8:
        model = int8_path_for(model)
        if not model.exists():
            raise FileNotFoundError(f"INT8 model {model} not found; run `xueliang models quantize` first")
    return model


def _quantize(args: argparse.Namespace) -> int:
    import json

    from analytics.models import ensure_onnx
    from analytics.quantize import compare_saved, quantize_int8, sample_frames
    from xueliang.settings import REPO_ROOT, Settings

    try:
        float_model = ensure_onnx(Settings().models_dir)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    frames = sample_frames(REPO_ROOT / "samples" / "vtest_640x360_g10.h264", args.frames)
    path = quantize_int8(float_model, frames)
    report = compare_saved(float_model.parent)
    print(json.dumps({"model": str(path), **report}, ensure_ascii=False))
    if report["int8_box_agreement"] is None or report["int8_box_agreement"] < args.min_agreement:
        print(f"error: INT8 box agreement {report['int8_box_agreement']} < {args.min_agreement}; do not deploy it",
              file=sys.stderr)
        return 1
    return 0


def _run(args: argparse.Namespace) -> int:
    import redis

    from analytics.alerts import AlertPublisher
    from analytics.worker import AnalyticsWorker, WorkerConfig
    from devices import Camera, RegistryError, RegistryWatcher, load_registry
    from xueliang.settings import Settings

    settings = Settings()
    cameras_file = args.cameras or settings.cameras_file
    if not settings.redis_url:
        print("error: REDIS_URL is not set; the analytics worker publishes alerts to Redis "
              "(`xueliang demo` sets it, or export REDIS_URL=redis://host:6379/0)", file=sys.stderr)
        return 2
    from devices.gb28181 import registry_sources  # GB/T 28181 channels when XUELIANG_GB28181_ENABLED=1
    from devices.registry.sources import combine

    sources = registry_sources(settings.resolved_database_url())
    try:
        base = load_registry(cameras_file)
        registry = combine(base, sources)
    except (RegistryError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    def wanted(c: Camera) -> bool:
        modes = ("continuous", "patrol") if args.patrol else ("continuous",)
        return bool(c.enabled and c.analysis.mode in modes and (args.only is None or c.id in args.only))

    cameras = [c for c in registry.cameras.values() if wanted(c)]
    skipped = len(registry.cameras) - len(cameras)
    if skipped:
        log.info("%d cameras are not analysed here (off/disabled%s)", skipped, "" if args.patrol else ", or patrol: use --patrol")
    if not cameras:
        log.warning("no continuous cameras in %s; nothing to analyse", cameras_file)
    try:
        model = resolve_model(settings.models_dir, args.int8)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    config = WorkerConfig(
        model_path=model, media_dir=settings.media_dir, imgsz=args.imgsz, backend=args.backend, max_batch=args.max_batch,
        max_wait_ms=args.max_wait_ms, gate=not args.no_gate, clips=not args.no_clips,
    )
    # The publisher thread retries with its own back-off; redis-py's retries would only hide outages.
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    client = redis.Redis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=3, retry=Retry(NoBackoff(), 0))
    # Edits of cameras.yaml apply without a restart; a bad edit is logged and the old registry stays.
    watcher = RegistryWatcher(cameras_file, initial=base, sources=sources,
                              on_error=lambda exc: log.error("cameras file not reloaded: %s", exc))
    health = None
    if args.health_sample_s > 0:
        from analytics.health import HealthConfig, HealthFeed
        from devices import LAST_FRAME_KEY, publish_status

        # With --only another worker may read the rest of the registry: claim only our own cameras.
        health = HealthFeed(registry, lambda report: publish_status(client, report),
                            HealthConfig(sample_every_s=args.health_sample_s, claim_unwatched=args.only is None,
                                         reference_dir=settings.data_dir / "vqd"),
                            patrol_enabled=args.patrol,
                            heartbeat=lambda seen: client.hset(LAST_FRAME_KEY, mapping={cid: ts for cid, ts in seen.items()}))
    # Alerts that cannot reach Redis wait on disk and are replayed in order (one spool per set of cameras).
    from analytics.spool import AlertSpool, SpoolInUse

    spool_name = "alerts" if args.only is None else "alerts-" + hashlib.sha1(" ".join(sorted(args.only)).encode()).hexdigest()[:10]
    try:
        spool = AlertSpool(settings.data_dir / "analytics" / "spool", spool_name)
    except (SpoolInUse, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        client.close()
        return 2
    try:
        worker = AnalyticsWorker(cameras, config, AlertPublisher(client, spool=spool), watcher=watcher, health=health)
    except RuntimeError as exc:  # e.g. --backend openvino without the optional extra installed
        print(f"error: {exc}", file=sys.stderr)
        client.close()
        return 2
    worker.wanted = wanted
    from analytics.metrics import AnalyticsCollector
    from xueliang.runtime.metrics import serve_metrics

    serve_metrics(args.metrics_port, AnalyticsCollector(worker))

    stop = stop_requested_by_signals(log)
    # SIGHUP: re-read cameras.yaml now (instead of within 2 s) and log the counters.
    signal.signal(signal.SIGHUP, lambda _signum, _frame: worker.request_reload())
    try:
        worker.run(stop)
    finally:
        client.close()
    return 0
