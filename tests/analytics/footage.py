"""A camera over the sample footage with rules drawn where people actually walk (and where nobody does).

Frame 480×360 (PETS pedestrians): a walkway crosses the frame left↔right between y≈0.30 and
y≈0.62; a white van (detected as ``truck``) and a car are parked at the top right for the
whole clip; the building facade at the top centre and the lawn at the bottom right are
never walked on.
"""

from __future__ import annotations

CAMERA_YAML = """
version: 1
cameras:
  - id: footage
    name: 样例视频 PETS
    jurisdiction: "330381101201"
    position: {lat: 27.78, lon: 120.65}
    streams: {main: "rtsp://127.0.0.1:1/footage"}
    analysis: {mode: continuous, fps: 5, detector_classes: [person]}
    zones:
      - id: walkway
        polygon: [[0.0, 0.30], [1.0, 0.30], [1.0, 0.62], [0.0, 0.62]]
      - id: facade
        polygon: [[0.42, 0.02], [0.75, 0.02], [0.75, 0.15], [0.42, 0.15]]
      - id: lawn-se
        polygon: [[0.68, 0.80], [0.92, 0.80], [0.92, 0.95], [0.68, 0.95]]
      - id: van-bay
        polygon: [[0.80, 0.10], [0.97, 0.10], [0.97, 0.25], [0.80, 0.25]]
      - id: road-east
        polygon: [[0.55, 0.35], [1.0, 0.35], [1.0, 0.75], [0.55, 0.75]]
    rules:
      - {id: walkway-intrusion, kind: zone_intrusion, zone: walkway, cooldown_s: 30}
      - {id: facade-intrusion, kind: zone_intrusion, zone: facade}
      - {id: lawn-intrusion, kind: zone_intrusion, zone: lawn-se}
      - {id: wire-any, kind: tripwire, line: [[0.25, 0.30], [0.25, 0.62]], direction: any}
      - {id: wire-a-to-b, kind: tripwire, line: [[0.25, 0.30], [0.25, 0.62]], direction: a_to_b}
      - {id: wire-b-to-a, kind: tripwire, line: [[0.25, 0.30], [0.25, 0.62]], direction: b_to_a}
      - {id: van-parking, kind: illegal_parking, zone: van-bay, classes: [car, truck], dwell_s: 20}
      - {id: road-parking, kind: illegal_parking, zone: road-east, classes: [car, truck], dwell_s: 20}
      - {id: walkway-loiter, kind: loitering, zone: walkway, dwell_s: 10}
      - {id: walkway-loiter-60, kind: loitering, zone: walkway, dwell_s: 60}
      - {id: lawn-loiter, kind: loitering, zone: lawn-se, dwell_s: 5}
      - {id: walkway-crowd, kind: crowd, zone: walkway, min_count: 4, dwell_s: 3}
      - {id: walkway-crowd-40, kind: crowd, zone: walkway, min_count: 40, dwell_s: 3}
      - {id: anyone-fallen, kind: fall, dwell_s: 2}
      - {id: left-bags, kind: abandoned_object, zone: walkway, dwell_s: 20}
"""
