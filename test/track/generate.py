"""
Reference fixtures for the tracker, lines and zones: synthetic detection streams run through
supervision 0.29.1 (ByteTrack + LineZone + PolygonZone), plus the building blocks it relies on
(scipy's linear_sum_assignment, cv2.fillPoly, CPython set order).

    test/track/venv.sh                          # once: .venv-track with supervision 0.29.1
    .venv-track/bin/python test/track/generate.py   # rewrites test/track/fixtures/*.json

Each scenario fixture holds the CLI arguments, the input frames (detect payloads) and, per
frame, what supervision kept (input index + tracker id) and its line / zone counts.
"""

from __future__ import annotations

import json
import math
import os
import random
import sys
import warnings

import cv2
import numpy as np
import scipy
import supervision as sv
from scipy.optimize import linear_sum_assignment

warnings.filterwarnings("ignore")

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "fixtures")

LABELS = {0: "person", 2: "car", 39: "bottle", 41: "cup", 67: "cell phone"}


def r3(x: float) -> float:
    # Inputs are written with 3 decimals so that JSON carries them exactly as Python held them.
    return float(f"{x:.3f}")


class Scene:
    """Objects moving on straight paths with noise, gaps, low scores and false positives."""

    def __init__(self, seed: int, width: int, height: int, frames: int):
        self.rng = random.Random(seed)
        self.width = width
        self.height = height
        self.frames = [[] for _ in range(frames)]

    def walker(self, cls, start, velocity, size, first, last, gaps=(), low=(), noise=1.5, score=(0.5, 0.95)):
        """Adds one object. gaps: (from, to) frame ranges with no detection; low: ranges with
        low-score (0.11-0.24) detections."""
        rng = self.rng
        x, y = start
        w, h = size
        for f in range(first, last):
            t = f - first
            cx = x + velocity[0] * t + rng.gauss(0, noise)
            cy = y + velocity[1] * t + rng.gauss(0, noise)
            ww = w * (1 + rng.gauss(0, 0.02))
            hh = h * (1 + rng.gauss(0, 0.02))
            if any(a <= f < b for a, b in gaps):
                continue
            s = rng.uniform(0.11, 0.24) if any(a <= f < b for a, b in low) else rng.uniform(*score)
            self.add(f, cls, cx - ww / 2, cy - hh / 2, cx + ww / 2, cy + hh / 2, s)

    def add(self, f, cls, x1, y1, x2, y2, s):
        if not (0 <= f < len(self.frames)):
            return
        self.frames[f].append((cls, r3(x1), r3(y1), r3(x2), r3(y2), r3(s)))

    def false_positives(self, rate, size=(20, 120), score=(0.26, 0.7)):
        rng = self.rng
        for f in range(len(self.frames)):
            while rng.random() < rate:
                w = rng.uniform(*size)
                h = rng.uniform(*size)
                x = rng.uniform(0, self.width - w)
                y = rng.uniform(0, self.height - h)
                self.add(f, rng.choice(list(LABELS)), x, y, x + w, y + h, rng.uniform(*score))

    def noise_scores(self, rate):
        """Very low-score clutter (< 0.1, ignored by the tracker but still re-matched at output)."""
        rng = self.rng
        for f in range(len(self.frames)):
            if rng.random() < rate:
                w, h = rng.uniform(10, 60), rng.uniform(10, 60)
                x, y = rng.uniform(0, self.width - w), rng.uniform(0, self.height - h)
                self.add(f, 0, x, y, x + w, y + h, rng.uniform(0.01, 0.099))

    def payloads(self):
        out = []
        for dets in self.frames:
            self.rng.shuffle(dets)
            out.append(
                {
                    "detections": [
                        {
                            "label": LABELS[c],
                            "classId": c,
                            "score": s,
                            "box": {"x1": x1, "y1": y1, "x2": x2, "y2": y2},
                        }
                        for c, x1, y1, x2, y2, s in dets
                    ],
                    "image": {"width": self.width, "height": self.height},
                }
            )
        return out


def people_line(seed):
    """People walking across a vertical counting line both ways, through a slanted zone;
    occlusions of 5-40 frames, low-score stretches, false positives."""
    s = Scene(seed, 1280, 720, 360)
    rng = s.rng
    for k in range(14):
        left_to_right = k % 2 == 0
        speed = rng.uniform(3, 7) * (1 if left_to_right else -1)
        first = rng.randint(0, 200)
        x0 = rng.uniform(60, 250) if left_to_right else rng.uniform(1030, 1220)
        y0 = rng.uniform(200, 560)
        length = rng.randint(120, 200)
        gap_len = rng.randint(5, 40)
        gap_at = first + rng.randint(30, max(31, length - gap_len - 10))
        low_at = first + rng.randint(10, length - 10)
        s.walker(
            0,
            (x0, y0),
            (speed, rng.uniform(-0.6, 0.6)),
            (rng.uniform(50, 80), rng.uniform(140, 200)),
            first,
            first + length,
            gaps=[(gap_at, gap_at + gap_len)],
            low=[(low_at, low_at + rng.randint(2, 8))],
        )
    s.false_positives(0.15)
    s.noise_scores(0.3)
    return {
        "name": "people-line",
        "about": "14 people cross a vertical line both ways through a slanted zone; gaps of 5-40 frames, low-score stretches, false positives",
        "args": ["--line", "640,80,640,680", "--line", "200,650,1100,120", "--zone", "500,150,900,230,960,640,430,600"],
        "frames": s.payloads(),
    }


def belt(seed):
    """Small parts on a belt moving right, through a zone and across a counting line."""
    s = Scene(seed, 960, 540, 420)
    rng = s.rng
    t = 0
    while t < 380:
        cls = rng.choice([39, 41, 67])
        size = rng.uniform(18, 40)
        y = rng.uniform(230, 320)
        gaps = []
        if rng.random() < 0.3:
            a = t + rng.randint(20, 120)
            gaps.append((a, a + rng.randint(5, 40)))
        low = []
        if rng.random() < 0.3:
            a = t + rng.randint(10, 120)
            low.append((a, a + rng.randint(1, 6)))
        s.walker(cls, (-20, y), (rng.uniform(5.5, 6.5), rng.uniform(-0.2, 0.2)), (size, size * rng.uniform(0.8, 1.2)), t, t + 175, gaps=gaps, low=low, noise=1.0)
        t += rng.randint(3, 12)
    s.false_positives(0.1, size=(15, 45))
    return {
        "name": "belt",
        "about": "small parts ride a belt left to right through a slanted zone and across a line; gaps, low scores, false positives",
        "args": ["--line", "480,180,500,380", "--zone", "300,200,700,190,720,350,280,340"],
        "frames": s.payloads(),
    }


def crowd(seed):
    """50 objects at once moving in random directions (the speed benchmark's load)."""
    s = Scene(seed, 1920, 1080, 150)
    rng = s.rng
    for _ in range(50):
        w, h = rng.uniform(30, 90), rng.uniform(60, 180)
        x, y = rng.uniform(100, 1820), rng.uniform(100, 980)
        ang = rng.uniform(0, 2 * math.pi)
        v = rng.uniform(0.5, 5)
        gaps = []
        if rng.random() < 0.4:
            a = rng.randint(0, 120)
            gaps.append((a, a + rng.randint(5, 40)))
        s.walker(0, (x, y), (v * math.cos(ang), v * math.sin(ang)), (w, h), 0, 150, gaps=gaps, low=[(rng.randint(0, 150), rng.randint(0, 150))])
    s.false_positives(0.5)
    s.noise_scores(0.5)
    return {
        "name": "crowd50",
        "about": "50 objects moving at once, with gaps and false positives",
        "args": ["--line", "960,0,960,1080", "--zone", "200,200,900,300,800,900,150,700"],
        "frames": s.payloads(),
    }


def lost_buffer(seed, rate, buffer):
    """Single objects hidden for exactly around the lost-track buffer: re-found or new id."""
    n = 400
    s = Scene(seed, 1280, 720, n)
    max_lost = int(rate / 30.0 * buffer)
    y = 80
    for k, hidden in enumerate(range(max_lost - 2, max_lost + 4)):
        first = 5 + k * 4
        s.walker(0, (100, y), (2.0, 0.0), (60, 120), first, first + 40 + hidden + 40, gaps=[(first + 40, first + 40 + hidden)], noise=0.3)
        y += 100
    return {
        "name": f"lost-buffer-{rate}fps-{buffer}",
        "about": f"objects hidden for {max_lost - 2}..{max_lost + 3} frames around the lost-track limit ({max_lost})",
        "args": ["--frame-rate", str(rate), "--lost-buffer", str(buffer), "--line", "180,0,180,720"],
        "frames": s.payloads(),
    }


def hard(seed):
    """Edge cases for exactness: integer boxes (exact IoU ties, IoU exactly 0.5), duplicate
    detections of one object, dense crossings of many objects, scores on the thresholds."""
    s = Scene(seed, 640, 480, 200)
    rng = s.rng
    for k in range(24):
        y = 40 + (k % 8) * 50
        first = rng.randint(0, 60)
        left = k % 2 == 0
        for f in range(first, first + 120):
            if rng.random() < 0.08:
                continue
            x = (20 + 4 * (f - first)) if left else (600 - 4 * (f - first))
            x1, y1 = int(x), int(y + rng.choice([-1, 0, 0, 1]))
            w, h = 40, 40
            sc = rng.choice([0.9, 0.8, 0.25, 0.35, 0.1, 0.2, 0.6, 0.6])
            s.add(f, 0, x1, y1, x1 + w, y1 + h, sc)
            if rng.random() < 0.1:
                s.add(f, 0, x1, y1, x1 + w, y1 + h, sc)  # an exact duplicate
            if rng.random() < 0.1:
                s.add(f, 0, x1 + 20, y1, x1 + 20 + w, y1 + h, 0.7)  # half-overlapping ghost
    return {
        "name": "hard",
        "about": "integer boxes with exact ties, duplicates, half-overlapping ghosts, scores on the thresholds, dense crossings",
        "args": ["--line", "320,0,320,480", "--zone", "100,50,300,60,320,400,80,380"],
        "frames": s.payloads(),
    }


def thresholds(seed):
    sc = people_line(seed)
    sc["name"] = "people-thresholds"
    sc["about"] = "the people scene with --track-threshold 0.4 --match-threshold 0.7"
    sc["args"] = ["--track-threshold", "0.4", "--match-threshold", "0.7"] + sc["args"]
    return sc


def min_frames(seed):
    sc = people_line(seed)
    # Two people from the very first frame: tracks confirmed at once but without an id yet.
    extra = Scene(seed + 1000, 1280, 720, len(sc["frames"]))
    extra.walker(0, (300, 300), (3, 0), (60, 160), 0, 80)
    extra.walker(0, (900, 400), (-3, 0), (60, 160), 0, 80)
    for f, p in zip(sc["frames"], extra.payloads()):
        f["detections"] = p["detections"] + f["detections"]
    sc["name"] = "people-min3"
    sc["about"] = "the people scene with minimum_consecutive_frames 3 (library option)"
    sc["options"] = {"minimumConsecutiveFrames": 3}
    return sc


def parse_args(args):
    opts = {"lines": [], "zones": [], "track_activation_threshold": 0.25, "minimum_matching_threshold": 0.8, "lost_track_buffer": 30, "frame_rate": 30}
    names = {"--track-threshold": "track_activation_threshold", "--match-threshold": "minimum_matching_threshold", "--lost-buffer": "lost_track_buffer", "--frame-rate": "frame_rate"}
    it = iter(args)
    for a in it:
        v = next(it)
        if a == "--line":
            opts["lines"].append([float(x) for x in v.split(",")])
        elif a == "--zone":
            opts["zones"].append([float(x) for x in v.split(",")])
        else:
            opts[names[a]] = float(v) if "." in v else int(v)
    return opts


def run_reference(sc):
    o = parse_args(sc["args"])
    tracker = sv.ByteTrack(
        track_activation_threshold=o["track_activation_threshold"],
        lost_track_buffer=o["lost_track_buffer"],
        minimum_matching_threshold=o["minimum_matching_threshold"],
        frame_rate=o["frame_rate"],
        minimum_consecutive_frames=sc.get("options", {}).get("minimumConsecutiveFrames", 1),
    )
    lines = [sv.LineZone(start=sv.Point(l[0], l[1]), end=sv.Point(l[2], l[3])) for l in o["lines"]]
    zones = [sv.PolygonZone(polygon=np.array(z, dtype=float).reshape(-1, 2).astype(int)) for z in o["zones"]]
    expected = []
    for p in sc["frames"]:
        d = p["detections"]
        n = len(d)
        dets = sv.Detections(
            xyxy=np.array([[e["box"]["x1"], e["box"]["y1"], e["box"]["x2"], e["box"]["y2"]] for e in d], dtype=np.float64).reshape(n, 4),
            confidence=np.array([e["score"] for e in d], dtype=np.float64),
            class_id=np.array([e["classId"] for e in d], dtype=int),
            data={"index": np.arange(n)},
        )
        out = tracker.update_with_detections(dets)
        kept = []
        if len(out) > 0:
            kept = [[int(i), int(t)] for i, t in zip(out.data["index"], out.tracker_id)]
        for lz in lines:
            lz.trigger(out)
        for pz in zones:
            pz.trigger(out)
        expected.append(
            {
                "kept": kept,
                "lines": [{"in": lz.in_count, "out": lz.out_count} for lz in lines],
                "zones": [{"count": pz.current_count} for pz in zones],
            }
        )
    return expected


def blocks(seed):
    """Building blocks: scipy LSA (with ties), cv2.fillPoly masks, CPython set order."""
    rng = np.random.default_rng(seed)
    lsa = []
    for k in range(200):
        r, c = int(rng.integers(1, 9)), int(rng.integers(1, 9))
        if k % 3 == 0:
            m = rng.integers(0, 4, size=(r, c)).astype(float)  # many ties
        elif k % 3 == 1:
            m = np.round(rng.random((r, c)), 3)
            m[m > 0.6] = 0.6001  # the tracker's capped entries
        else:
            m = np.round(rng.random((r, c)), 6)
        rows, cols = linear_sum_assignment(m)
        lsa.append({"cost": m.tolist(), "rows": rows.tolist(), "cols": cols.tolist()})
    polys = []
    prng = random.Random(seed)
    for k in range(120):
        n = prng.randint(3, 8)
        w, h = prng.randint(4, 50), prng.randint(4, 50)
        lo = -8 if k % 4 == 0 else 0
        pts = [[prng.randint(lo, w + 4), prng.randint(lo, h + 4)] for _ in range(n)]
        m = np.zeros((h, w), np.uint8)
        cv2.fillPoly(m, [np.array(pts, np.int32)], color=(1,))
        polys.append({"points": pts, "width": w, "height": h, "mask": "".join(map(str, m.flatten().tolist()))})
    sets = []
    for k in range(200):
        n = prng.randint(1, 120)
        used = set(prng.sample(range(n), prng.randint(0, n)))
        sets.append({"n": n, "used": sorted(used), "order": list(set(range(n)) - used)})
    return {"linear_sum_assignment": lsa, "fill_poly": polys, "set_difference": sets}


def defaults():
    """The reference's own defaults: ByteTrack's from its source (the class is wrapped by a
    deprecation proxy), LineZone's and PolygonZone's from their signatures."""
    import ast
    import inspect

    from supervision.tracker.byte_tracker import core

    tree = ast.parse(open(core.__file__).read())
    bt = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == "ByteTrack":
            init = next(n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__")
            names = [a.arg for a in init.args.args][-len(init.args.defaults):]
            bt = {k: ast.literal_eval(v) for k, v in zip(names, init.args.defaults)}

    def sig(cls):
        out = {}
        for k, v in inspect.signature(cls.__init__).parameters.items():
            if v.default is inspect.Parameter.empty:
                continue
            d = v.default
            out[k] = [p.value.lower() for p in d] if isinstance(d, tuple) else d
        return out

    return {"ByteTrack": bt, "LineZone": sig(sv.LineZone), "PolygonZone": sig(sv.PolygonZone)}


def main():
    # --out DIR --seed N: other seeds into another folder (TRACK_FIXTURES=DIR npx mocha
    # test/track/reference.test.ts compares them), for wider checks than the committed set.
    out, seed = OUT, 0
    args = sys.argv[1:]
    if "--out" in args:
        out = args[args.index("--out") + 1]
    if "--seed" in args:
        seed = int(args[args.index("--seed") + 1])
    os.makedirs(out, exist_ok=True)
    versions = {
        "supervision": sv.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "opencv": cv2.__version__,
        "python": sys.version.split()[0],
    }
    k = 100 * seed
    scenes = [people_line(k + 1), thresholds(k + 2), belt(k + 3), crowd(k + 4), lost_buffer(k + 5, 30, 30), lost_buffer(k + 6, 15, 20), hard(k + 8), min_frames(k + 9)]
    for sc in scenes:
        sc["expected"] = run_reference(sc)
        sc["generatedBy"] = versions
        path = os.path.join(out, f"{sc['name']}.json")
        with open(path, "w") as f:
            json.dump(sc, f, separators=(",", ":"))
        kept = sum(len(e["kept"]) for e in sc["expected"])
        ids = len({t for e in sc["expected"] for _, t in e["kept"]})
        print(f"{sc['name']}: {len(sc['frames'])} frames, {kept} tracked detections, {ids} ids, lines {sc['expected'][-1]['lines']}")
    b = blocks(k + 7)
    b["defaults"] = defaults()
    b["generatedBy"] = versions
    with open(os.path.join(out, "blocks.json"), "w") as f:
        json.dump(b, f, separators=(",", ":"))
    print("blocks: written")


if __name__ == "__main__":
    main()
