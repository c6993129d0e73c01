#!/usr/bin/python3
"""Minimal impa-nowcast consumer written only from docs/protocol.md.

Needs Debian's python3-zmq and python3-numpy:
    /usr/bin/python3 examples/consumer.py --endpoint tcp://127.0.0.1:5560 --count 1
    /usr/bin/python3 examples/consumer.py --latest --request tcp://127.0.0.1:5561
"""
import argparse
import json
import sys
import time
from typing import Dict, List, Tuple

import numpy as np
import zmq


def decode_frame(header: dict, payload: bytes) -> np.ndarray:
    """Payload -> float32 dBZ array [ny, nx], NaN = no data."""
    ny, nx = header["grid"]["ny"], header["grid"]["nx"]
    enc = header["encoding"]
    if enc["dtype"] == "uint8":
        q = np.frombuffer(payload, dtype=np.uint8).reshape(ny, nx)
        dbz = enc["gain"] * q.astype(np.float32) + enc["offset"]
        dbz[q == enc["nodata"]] = np.nan
        return dbz
    if enc["dtype"] == "float32":
        return np.frombuffer(payload, dtype="<f4").reshape(ny, nx).astype(np.float32)
    raise ValueError("unknown encoding %r" % enc["dtype"])


def print_message(header: dict, payload: bytes) -> None:
    kind = header["type"]
    if kind == "frame":
        dbz = decode_frame(header, payload)
        mx = float(np.nanmax(dbz)) if np.isfinite(dbz).any() else float("nan")
        print("frame lead=+%dmin valid=%s shape=%s max=%.1f dBZ method=%s"
              % (header["lead_minutes"], header["valid_time"], dbz.shape, mx, header["method"]))
    elif kind == "prob":
        p = decode_frame(header, payload)  # uint8 percent: gain 0.01, offset 0
        mx = float(np.nanmax(p)) if np.isfinite(p).any() else float("nan")
        print("prob >=%.0f dBZ lead=+%dmin valid=%s max=%.2f radius=%.1f km"
              % (header["threshold_dbz"], header["lead_minutes"], header["valid_time"], mx,
                 header["radius_km"]))
    elif kind == "alert":
        fc = json.loads(payload)
        for f in fc["features"]:
            p = f["properties"]
            if p.get("kind") == "watch_region":  # max P per lead over the region, its alert
                probs = ",".join("-" if v is None else "%.2f" % v for v in p["probability"] or [])
                alert = p["alert"]["event"] if p["alert"] else "-"
                print("region %s p=%s alert=%s" % (p["region"], probs or "-", alert))
                continue
            regions = ",".join(r["name"] for r in p["regions"]) or "-"
            print("alert cell=%d event=%s lead=+%dmin area=%.1f km2 max=%.1f dBZ lat=%s lon=%s regions=%s"
                  % (p["cell_id"], p["event"], p["lead_minutes"], p["area_km2"], p["max_dbz"],
                     p["centroid"]["lat"], p["centroid"]["lon"], regions))
    elif kind == "cycle_end":
        print("cycle issue=%s frames=%d alerts=%d" % (header["issue_time"], header["n_frames"],
                                                       header["n_alert_features"]))
    else:
        print("%s %s" % (kind, json.dumps(header)[:200]))


def listen(endpoint: str, count: int, timeout: float) -> int:
    ctx = zmq.Context.instance()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"impa.")
    sub.connect(endpoint)
    last: Dict[str, Tuple[str, int]] = {}  # topic -> (run_id, seq)
    cycles, t0 = 0, time.monotonic()
    while count <= 0 or cycles < count:
        if timeout > 0 and time.monotonic() - t0 > timeout:
            return 3 if count > 0 else 0
        if not sub.poll(200):
            continue
        parts: List[bytes] = sub.recv_multipart()
        topic, header = parts[0].decode(), json.loads(parts[1])
        run, seq = header["run_id"], header["seq"]
        if topic in last:
            prev_run, prev_seq = last[topic]
            if run != prev_run:
                print("RESTART %s" % topic)
            elif seq > prev_seq + 1:
                print("LOST %d messages on %s" % (seq - prev_seq - 1, topic))
        last[topic] = (run, seq)
        print_message(header, parts[2])
        sys.stdout.flush()
        cycles += header["type"] == "cycle_end"
    return 0


def latest(request: str, timeout: float) -> int:
    req = zmq.Context.instance().socket(zmq.REQ)
    req.connect(request)
    req.send(b"latest")
    if not req.poll(int((timeout or 10) * 1000)):
        print("no reply", file=sys.stderr)
        return 1
    parts = req.recv_multipart()
    head = json.loads(parts[0])
    print("snapshot available=%s frames=%d" % (head["available"], head["n_frames"]))
    i = 1
    for _ in range(head["n_frames"]):
        print_message(json.loads(parts[i]), parts[i + 1])
        i += 2
    if head["has_alerts"]:
        print_message(json.loads(parts[i]), parts[i + 1])
    return 0 if head["available"] else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--endpoint", default="tcp://127.0.0.1:5560")
    ap.add_argument("--request", default="tcp://127.0.0.1:5561")
    ap.add_argument("--latest", action="store_true")
    ap.add_argument("--count", type=int, default=0, help="stop after N cycles")
    ap.add_argument("--timeout", type=float, default=0, help="stop after S seconds")
    a = ap.parse_args()
    if a.latest:
        return latest(a.request, a.timeout)
    return listen(a.endpoint, a.count, a.timeout)


if __name__ == "__main__":
    sys.exit(main())
