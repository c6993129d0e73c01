#!/usr/bin/python3
"""Subscriber side of the end-to-end test (tests/integration/test_e2e.sh).

Subscribes to every impa.* topic of a running impa-nowcastd and checks, per the
wire format in src/publish/publish.c (docs/protocol.md): each message is
[topic, JSON header, payload]; frames of one cycle carry lead_index 0..n-1 and
consecutive seq numbers that the cycle_end message names; alerts are a GeoJSON
FeatureCollection whose features carry max_dbz and event.

Succeeds (exit 0) once it has seen at least --min-cycles complete cycles (every
frame, payload size and decoded values checked) and one alert feature with
max_dbz >= --alert-dbz that is not an "ended" event, at the first lead, whose
centroid lies within --near cells of a >= --alert-dbz pixel of the newest
observed scan (read from the frame's provenance): an alert for the simulated
storm, not one a broken forecast invents elsewhere. Prints a summary as JSON.
Exit 1 on timeout or on a malformed message, with the reason.

With --prob it also checks the probability product end to end and waits for it:
every complete cycle has its n_thresholds x n_leads probability frames (seq range
named by cycle_end, uint8 percent, 255 = no data); the strong alert cell carries a
probability in (0, 1] that no probability frame of its lead falls short of; the
--region feature (a region covering the whole domain) carries one probability per
lead, each equal to the largest value of that lead's >= threshold_dbz probability
frame (within the uint8 rounding) and at least every cell's; its probability alert
is raised, and its CAP message validates against --cap-xsd; a verification
message scores the probabilities (Brier score in [0, 1], a 10-bin reliability table).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, Dict, List

import zmq


def decode_max(hdr: Dict[str, Any], payload: bytes) -> float:
    """Largest dBZ value of a frame payload (nodata excluded)."""
    enc = hdr["encoding"]
    if enc["dtype"] == "uint8":
        vals = [b for b in payload if b != enc["nodata"]]
        if not vals:
            return float("nan")
        return max(vals) * enc["gain"] + enc["offset"]
    import struct
    n = len(payload) // 4
    fl = struct.unpack("<%df" % n, payload)
    good = [v for v in fl if v == v]
    return max(good) if good else float("nan")


def near_observed(path: str, col: float, row: float, dbz: float, radius: float) -> bool:
    """Whether the scan at path has a pixel >= dbz within radius cells of (col, row)."""
    import netCDF4
    import numpy as np
    with netCDF4.Dataset(path) as ds:
        a = np.ma.filled(ds.variables["reflectivity"][:].astype(float), np.nan)
    rows, cols = np.nonzero(np.nan_to_num(a, nan=-99.0) >= dbz)
    if rows.size == 0:
        return False
    return bool(np.min(np.hypot(cols - col, rows - row)) <= radius)


def check_prob(end: Dict[str, Any], frames: Dict[Any, Any], region: Any,
               cells: List[Any], hdr_thr: float) -> str:
    """The probability frames of one complete cycle against its cycle_end, and the
    region's and cells' probabilities against the frames. "" when consistent."""
    n = end["n_prob_frames"]
    if n < 1 or n != len(frames) or n % end["n_frames"]:
        return "%d probability frames received, cycle_end says %d for %d leads" % (
            len(frames), n, end["n_frames"])
    seqs = sorted(v[0] for v in frames.values())
    if seqs != list(range(end["first_prob_seq"], end["last_prob_seq"] + 1)):
        return "probability frame seqs %s, cycle_end %d..%d" % (
            seqs, end["first_prob_seq"], end["last_prob_seq"])
    if region is None or len(region) != end["n_frames"]:
        return "region probabilities %s for %d leads" % (region, end["n_frames"])
    for k, rp in enumerate(region):
        fmax = frames.get((hdr_thr, k), (0, None))[1]
        if fmax is None:
            return "no %s dBZ probability frame at lead %d" % (hdr_thr, k)
        if rp is None or abs(rp - fmax) > 0.0051:
            return "region probability %s at lead %d, frame max %.2f" % (rp, k, fmax)
    for k, cp in cells:
        if not 0 <= cp <= 1 or cp > region[k] + 1e-4:
            return "cell probability %s at lead %d above the region's %s" % (cp, k, region[k])
    return ""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--timeout", type=float, default=90.0)
    ap.add_argument("--min-cycles", type=int, default=1)
    ap.add_argument("--alert-dbz", type=float, default=45.0)
    ap.add_argument("--near", type=float, default=15.0,
                    help="cells between an alert centroid and the observed storm")
    ap.add_argument("--ready", help="file created once subscribed")
    ap.add_argument("--prob", action="store_true", help="check the probability product too")
    ap.add_argument("--region", default="", help="watch region covering the domain (--prob)")
    ap.add_argument("--cap-xsd", default="", help="CAP 1.2 schema (--prob)")
    args = ap.parse_args()
    xsd = None
    if args.prob and args.cap_xsd:
        from lxml import etree
        xsd = etree.XMLSchema(etree.parse(args.cap_xsd))

    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"impa.")
    sub.setsockopt(zmq.LINGER, 0)
    sub.connect(args.endpoint)
    # A SUB that has just connected misses what is sent before the subscription
    # reaches the publisher: give it a moment before declaring readiness.
    time.sleep(0.5)
    if args.ready:
        with open(args.ready, "w") as f:
            f.write("subscribed\n")

    frames: Dict[str, Dict[int, Dict[str, Any]]] = {}
    last_input: Dict[str, str] = {}  # issue time -> newest input scan
    complete = []
    strong = []
    # --prob: issue -> {(threshold, lead): (seq, max P)}; issue -> region probabilities,
    # cell probabilities per lead; region CAP messages validated
    probf: Dict[str, Dict[Any, Any]] = {}
    region_p: Dict[str, List[Any]] = {}
    cell_p: Dict[str, List[Any]] = {}
    prob_ok: List[str] = []
    region_alerts: List[str] = []
    region_caps: List[str] = []
    prob_verified: List[Any] = []
    counts: Dict[str, int] = {}
    deadline = time.monotonic() + args.timeout

    def fail(msg: str) -> int:
        print(json.dumps({"ok": False, "error": msg, "counts": counts,
                          "complete_cycles": complete, "strong_alerts": len(strong)}))
        return 1

    while time.monotonic() < deadline:
        if not sub.poll(200):
            continue
        parts = sub.recv_multipart()
        if len(parts) != 3:
            return fail("message with %d parts (expected topic, header, payload)" % len(parts))
        topic = parts[0].decode()
        kind = topic.split(".")[1] if topic.count(".") >= 2 else "?"
        counts[kind] = counts.get(kind, 0) + 1
        hdr = json.loads(parts[1])
        if kind == "frame":
            g = hdr["grid"]
            elem = 1 if hdr["encoding"]["dtype"] == "uint8" else 4
            if len(parts[2]) != g["nx"] * g["ny"] * elem:
                return fail("frame payload %d bytes for a %dx%d grid" % (len(parts[2]), g["nx"], g["ny"]))
            frames.setdefault(hdr["issue_time"], {})[hdr["lead_index"]] = {
                "seq": hdr["seq"], "lead_minutes": hdr["lead_minutes"],
                "max_dbz": decode_max(hdr, parts[2]), "method": hdr["method"]}
            inputs = hdr.get("provenance", {}).get("inputs") or []
            if inputs:
                last_input[hdr["issue_time"]] = inputs[-1]["path"]
        elif kind == "prob":
            g, enc = hdr["grid"], hdr["encoding"]
            q = parts[2]
            if enc["dtype"] != "uint8" or len(q) != g["nx"] * g["ny"]:
                return fail("prob payload %d bytes, %s, for a %dx%d grid"
                            % (len(q), enc["dtype"], g["nx"], g["ny"]))
            vals = [b for b in q if b != enc["nodata"]]
            if any(b > 100 for b in vals):
                return fail("prob frame with a value above 100 %")
            if hdr["threshold_dbz"] not in hdr["thresholds_dbz"]:
                return fail("prob threshold %s not in %s" % (hdr["threshold_dbz"], hdr["thresholds_dbz"]))
            probf.setdefault(hdr["issue_time"], {})[(hdr["threshold_dbz"], hdr["lead_index"])] = (
                hdr["seq"], (max(vals) if vals else 0) * enc["gain"])
        elif kind == "verify" and args.prob:
            ver = json.loads(parts[2])
            for t in ver.get("probability", []):
                for lead in t["leads"]:
                    now = lead["now"]
                    if now["n"] > 0:
                        if not (now["bs"] is not None and 0 <= now["bs"] <= 1
                                and len(lead["since_start"]["reliability"]) == 10):
                            return fail("probability verification %s" % json.dumps(lead)[:300])
                        prob_verified.append((t["threshold"], lead["lead_min"], now["bs"]))
        elif kind == "cap" and args.prob and hdr.get("region") == args.region:
            if xsd is not None:
                from lxml import etree
                doc = etree.fromstring(parts[2])
                if not xsd.validate(doc):
                    return fail("region CAP message invalid: %s" % xsd.error_log)
            region_caps.append(hdr["identifier"])
        elif kind == "alert":
            fc = json.loads(parts[2])
            issue = hdr.get("issue_time")
            for feat in fc.get("features", []):
                p = feat.get("properties", {})
                if p.get("kind") == "watch_region":
                    if p.get("region") == args.region:
                        region_p[issue] = p.get("probability") or []
                        al = p.get("alert") or {}
                        if al.get("raised"):
                            region_alerts.append(issue)
                    continue
                if p.get("event") != "ended" and p.get("probability") is not None:
                    cell_p.setdefault(issue, []).append((p["lead_index"], p["probability"]))
                if (p.get("event") != "ended" and p.get("max_dbz", 0) >= args.alert_dbz
                        and p.get("lead_index") == 0 and issue in last_input
                        and near_observed(last_input[issue],
                                          p.get("centroid", {}).get("col", -1e9),
                                          p.get("centroid", {}).get("row", -1e9),
                                          args.alert_dbz, args.near)):
                    strong.append({"issue": hdr.get("issue_time"), "cell_id": p.get("cell_id"),
                                   "lead_minutes": p.get("lead_minutes"),
                                   "probability": p.get("probability"),
                                   "max_dbz": p.get("max_dbz"), "area_km2": p.get("area_km2")})
        elif kind == "cycle":
            issue = hdr["issue_time"]
            got = frames.get(issue, {})
            n = hdr["n_frames"]
            seqs = [got[k]["seq"] for k in sorted(got)]
            if sorted(got) == list(range(n)) and seqs == list(
                    range(hdr["first_frame_seq"], hdr["last_frame_seq"] + 1)):
                steps = [got[k]["lead_minutes"] for k in range(n)]
                if steps != [steps[0] * (k + 1) for k in range(n)]:
                    return fail("cycle %s: lead minutes %s not k*step" % (issue, steps))
                # The storm is >= 50 dBZ in every simulated scan: ten minutes later
                # the first lead must still hold it (decoded from the payload).
                if not got[0]["max_dbz"] >= args.alert_dbz:
                    return fail("cycle %s: first lead peaks at %s dBZ" % (issue, got[0]["max_dbz"]))
                complete.append({"issue": issue, "n_frames": n, "method": hdr["method"],
                                 "max_dbz_lead1": got[0]["max_dbz"]})
                if args.prob:
                    err = check_prob(hdr, probf.get(issue, {}), region_p.get(issue),
                                     cell_p.get(issue, []), hdr_thr=args.alert_dbz)
                    if err:
                        return fail("cycle %s: %s" % (issue, err))
                    prob_ok.append(issue)
        done = len(complete) >= args.min_cycles and strong
        if args.prob:
            strong_p = [s for s in strong if s.get("probability") is not None
                        and 0 < s["probability"] <= 1]
            done = done and prob_ok and region_alerts and region_caps and strong_p and prob_verified
        if done:
            if args.prob:
                print(json.dumps({"ok": True, "counts": counts, "complete_cycles": complete,
                                  "strong_alerts": len(strong), "first_strong_alert": strong[0],
                                  "prob_cycles": prob_ok, "region_probability": region_p[prob_ok[0]],
                                  "region_alerts": region_alerts, "region_caps": region_caps,
                                  "prob_verified": prob_verified[:4]}))
                return 0
            print(json.dumps({"ok": True, "counts": counts, "complete_cycles": complete,
                              "strong_alerts": len(strong), "first_strong_alert": strong[0]}))
            return 0
    return fail("timeout after %.0f s" % args.timeout)


if __name__ == "__main__":
    sys.exit(main())
