"""Hot reload swaps a valid registry in, reports what changed, and keeps the old one on a bad edit."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from devices import Registry, RegistryDiff, RegistryError, RegistryWatcher
from xueliang.settings import REPO_ROOT

DEMO = (REPO_ROOT / "configs" / "cameras.yaml").read_text(encoding="utf-8")


def write(path: Path, text: str) -> None:
    # Write-then-rename, as editors and config-management tools do; bump mtime so a
    # same-second rewrite is still seen on coarse-timestamp filesystems.
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def test_edit_reports_added_removed_changed(tmp_path: Path) -> None:
    path = tmp_path / "cameras.yaml"
    write(path, DEMO)
    seen: list[RegistryDiff] = []
    watcher = RegistryWatcher(path, on_change=lambda reg, diff: seen.append(diff))
    before = watcher.current
    assert watcher.check() is None, "nothing changed yet"

    edited = (
        DEMO.replace("fps: 0.2}\n    tags: [patrol, road]", "fps: 0.5}\n    tags: [patrol, road]")  # cam06: ingest restart
        .replace("cooldown_s: 20}\n    tags: [demo, school]", "cooldown_s: 60}\n    tags: [demo, school]")  # cam03: rule only
        .replace("  - id: t4g01\n", "  - id: t4g02\n")  # removed one, added another
    )
    assert edited.count("fps: 0.5}") == 2 and "cooldown_s: 60" in edited
    write(path, edited)
    diff = watcher.check()
    assert diff is not None and seen == [diff]
    assert diff.added == {"t4g02"} and diff.removed == {"t4g01"}
    assert diff.changed == {"cam06", "cam03"}
    assert diff.restart_ingest == {"cam06"} and diff.config_only == {"cam03"}
    assert watcher.current is not before and watcher.current["cam03"].rules[0].cooldown_s == 60
    assert watcher.current["cam01"] == before["cam01"], "unchanged channels compare equal"


def test_bad_edit_is_rejected_and_old_registry_kept(tmp_path: Path) -> None:
    path = tmp_path / "cameras.yaml"
    write(path, DEMO)
    errors: list[RegistryError] = []
    watcher = RegistryWatcher(path, on_error=errors.append)
    good = watcher.current

    write(path, DEMO.replace("fps: 5, detector_classes: [person]}", "fps: lots, detector_classes: [person]}", 1))
    assert watcher.check() is None
    assert watcher.current is good and len(good) == 9
    assert len(errors) == 1 and watcher.last_error is errors[0]
    bad_line = next(n for n, t in enumerate(path.read_text().splitlines(), 1) if "fps: lots" in t)
    assert errors[0].problems[0].startswith(f"{path}:{bad_line}: cameras[0].analysis.fps: ")
    assert watcher.check() is None and len(errors) == 1, "an unchanged bad file is reported once"

    write(path, "cameras:\n  - id: [unclosed\n")
    assert watcher.check() is None and watcher.current is good and len(errors) == 2

    path.unlink()
    assert watcher.check() is None and watcher.current is good and "cannot read" in errors[-1].problems[0]

    write(path, DEMO.replace("name: 东城街道 人民广场 东入口", "name: 东城街道 人民广场 东门"))
    diff = watcher.check()
    assert diff is not None and diff.changed == {"cam01"} and not diff.restart_ingest
    assert watcher.last_error is None and watcher.current["cam01"].name == "东城街道 人民广场 东门"


def test_background_thread_picks_up_changes(tmp_path: Path) -> None:
    path = tmp_path / "cameras.yaml"
    write(path, DEMO)
    changed = threading.Event()
    result: list[tuple[Registry, RegistryDiff]] = []

    def on_change(reg: Registry, diff: RegistryDiff) -> None:
        result.append((reg, diff))
        changed.set()

    with RegistryWatcher(path, interval_s=0.05, on_change=on_change) as watcher:
        write(path, DEMO.replace("  - id: cam05\n", "  - id: cam05b\n"))
        assert changed.wait(10), "watcher thread did not reload within 10 s"
        assert result[0][1].added == {"cam05b"} and watcher.current is result[0][0]
    assert watcher._thread is None, "stop() joined the thread"


def test_reload_reuses_unchanged_channels(tmp_path: Path) -> None:
    from devices.registry.generate import generate_registry_yaml

    path = tmp_path / "county.yaml"
    text = generate_registry_yaml(2500, seed=9)
    write(path, text)
    watcher = RegistryWatcher(path)
    before = watcher.current
    write(path, text.replace("  - id: c001234\n    name: ", "  - id: c001234\n    name: 改名 ", 1))
    diff = watcher.check()
    assert diff is not None and diff.changed == {"c001234"} and not diff.added and not diff.removed
    after = watcher.current
    assert after["c001234"].name.startswith("改名 ")
    same = sum(1 for cid, cam in after.cameras.items() if cam is before.cameras[cid])
    assert same == 2499, "every untouched channel is the very same object (not re-parsed)"
    assert list(after.cameras) == list(before.cameras), "file order kept"
