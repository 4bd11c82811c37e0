"""An incident is an aggregate of alerts: one merge row on the timeline, first/latest/best snapshot
and one clip per alarm window, all reachable over the API (alerts through the real consumer)."""

from __future__ import annotations

import subprocess
import uuid
from datetime import UTC, datetime, timedelta

import redis

from command import publish_alert
from tests.web.helpers import consume, make_alert, sample_jpeg
from xueliang.settings import REPO_ROOT


def _clip(media_dir, name: str) -> str:
    """A real 1 s H.264 MP4 cut from the sample footage, where the analytics worker would put it."""
    path = media_dir / "clips" / "camAgg" / f"{name}.mp4"
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(REPO_ROOT / "samples" / "vtest_480x360_g10.h264"),
                    "-t", "1", "-c", "copy", str(path)], check=True, timeout=60)
    return str(path)


def test_merged_alerts_fold_into_one_row_and_evidence_is_reachable(web_server) -> None:
    camera = f"camAgg{uuid.uuid4().hex[:6]}"
    media = web_server.settings.media_dir
    clip_a, clip_b = _clip(media, uuid.uuid4().hex), _clip(media, uuid.uuid4().hex)
    t0 = datetime.now(UTC) - timedelta(minutes=3)
    # 6 alerts of one rule: two windows (a clip each); snapshots on the 1st, 3rd (best), 4th and 6th only.
    plan = [(0.60, True, clip_a), (0.61, False, None), (0.93, True, None), (0.70, True, clip_b), (0.71, False, None),
            (0.72, True, None)]
    client = redis.Redis.from_url(web_server.redis_url)
    try:
        for i, (confidence, snapshot, clip) in enumerate(plan):
            alert = make_alert("camA1").model_copy(update={
                "camera_id": camera, "confidence": confidence, "clip_path": clip, "ts": t0 + timedelta(seconds=20 * i)})
            publish_alert(client, alert, sample_jpeg() if snapshot else b"")
    finally:
        client.close()
    assert consume(web_server) >= len(plan)
    with web_server.client("op_a") as http:
        [incident] = [i for i in http.get("/api/incidents", params={"camera_id": camera}).json()["items"]]
        assert incident["source_count"] == 6
        assert incident["last_source_at"].startswith((t0 + timedelta(seconds=100)).isoformat()[:19])
        detail = http.get(f"/api/incidents/{incident['id']}").json()
        assert detail["sources_total"] == 6 and len(detail["sources"]) == 6 and detail["has_clip"] is True
        clip = http.get(f"/api/incidents/{incident['id']}/clip")  # the first source's clip: the first window's
        assert clip.status_code == 200 and clip.headers["content-type"] == "video/mp4"
        assert clip.content == open(clip_a, "rb").read()
        timeline = http.get(f"/api/incidents/{incident['id']}/timeline").json()["items"]
        merges = [row for row in timeline if row["action"] == "merge"]
        assert len(merges) == 1 and merges[0]["count"] == 5, timeline
        assert [row["action"] for row in timeline] == ["receive", "classify", "merge"]
        evidence = http.get(f"/api/incidents/{incident['id']}/evidence").json()
        snaps = evidence["snapshots"]
        assert snaps["best"]["confidence"] == 0.93 and snaps["first"]["confidence"] == 0.60
        assert snaps["latest"]["confidence"] == 0.72
        assert len({snaps[k]["source_id"] for k in ("first", "latest", "best")}) == 3
        for which in ("first", "latest", "best"):
            r = http.get(snaps[which]["url"])
            assert r.status_code == 200 and r.content[:3] == b"\xff\xd8\xff", which
        assert len(evidence["clips"]) == 2
        for clip in evidence["clips"]:
            r = http.get(clip["url"])
            assert r.status_code == 200 and r.headers["content-type"] == "video/mp4" and b"ftyp" in r.content[:16]
    with web_server.client("op_b") as http:  # another township sees none of it
        assert http.get(f"/api/incidents/{incident['id']}/evidence").status_code == 404
        assert http.get(snaps["best"]["url"]).status_code == 404


def test_a_busy_incidents_detail_lists_the_first_and_latest_sources_only(web_server) -> None:
    from command import intake_alerts

    camera = f"camBusy{uuid.uuid4().hex[:6]}"
    t0 = datetime.now(UTC) - timedelta(minutes=5)
    alerts = [make_alert("camA1").model_copy(update={"camera_id": camera, "ts": t0 + timedelta(seconds=i)})
              for i in range(80)]
    with web_server.database.session() as session:
        results = intake_alerts(session, [(a, None) for a in alerts])
    incident_id = results[0].incident.id
    with web_server.client("op_a") as http:
        detail = http.get(f"/api/incidents/{incident_id}").json()
        assert detail["sources_total"] == 80 and len(detail["sources"]) == 51
        refs = [s["ref"] for s in detail["sources"]]
        assert refs[0] == alerts[0].alert_id and refs[1:] == [a.alert_id for a in alerts[30:]]
        timeline = http.get(f"/api/incidents/{incident_id}/timeline").json()["items"]
        assert [(r["action"], r.get("count")) for r in timeline] == [("receive", None), ("classify", None), ("merge", 79)]


def test_a_clip_says_whether_it_plays_is_being_recorded_or_is_missing(web_server) -> None:
    """The desk never waits for a clip that will not come: a failed write (the writer's marker) and a clip
    that never appeared are ``missing`` with the reason; a window still open is ``recording``."""
    from command import mark_clip_failed

    camera = f"camClip{uuid.uuid4().hex[:6]}"
    media = web_server.settings.media_dir
    ready = _clip(media, uuid.uuid4().hex)
    failed = media / "clips" / camera / f"{uuid.uuid4().hex}.mp4"
    mark_clip_failed(failed, "录像未能写入：ValueError: no packets buffered for this camera")
    vanished = media / "clips" / camera / f"{uuid.uuid4().hex}.mp4"  # the worker died before writing it
    recording = media / "clips" / camera / f"{uuid.uuid4().hex}.mp4"  # its window is still open
    now = datetime.now(UTC)
    plan = [(ready, now - timedelta(minutes=6)), (failed, now - timedelta(minutes=5)),
            (vanished, now - timedelta(minutes=4)), (recording, now)]
    client = redis.Redis.from_url(web_server.redis_url)
    try:
        for clip, ts in plan:
            alert = make_alert("camA1").model_copy(update={"camera_id": camera, "clip_path": str(clip), "ts": ts})
            publish_alert(client, alert, sample_jpeg())  # a window's first alert carries a snapshot and names its clip
    finally:
        client.close()
    assert consume(web_server) >= len(plan)
    with web_server.client("op_a") as http:
        [incident] = http.get("/api/incidents", params={"camera_id": camera}).json()["items"]
        clips = http.get(f"/api/incidents/{incident['id']}/evidence").json()["clips"]
    assert [c["state"] for c in clips] == ["ready", "missing", "missing", "recording"], clips
    assert clips[0]["reason"] is None and clips[3]["reason"] is None
    assert "no packets buffered" in clips[1]["reason"] and "stopped" in clips[2]["reason"]
