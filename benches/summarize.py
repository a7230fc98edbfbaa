#!/usr/bin/env python3
"""Prints the median of every criterion benchmark of the last run, and the ratios the verify
bench is judged by (run `cargo bench -p twofactor-benches --bench verify` first)."""
import json
import pathlib
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target/criterion")
medians = {}
for est in sorted(root.glob("**/new/estimates.json")):
    bench = json.loads((est.parent / "benchmark.json").read_text())
    medians[bench["full_id"]] = json.loads(est.read_text())["median"]["point_estimate"]

width = max(map(len, medians), default=0)
for name, ns in medians.items():
    print(f"{name:<{width}}  {ns:10.1f} ns")

def ratio(label, a, b):
    if a in medians and b in medians:
        print(f"{label:<60} {medians[a] / medians[b]:6.2f}x")

print()
s = "verify_pm1/SHA1/"
floor = s + "floor/six_sha1_compressions"
for case in ("far_edge", "wrong"):
    ratio(f"SHA1 {case}: prepared / floor (goal <= 1.6)", s + f"twofactor_prepared/{case}", floor)
    ratio(f"SHA1 {case}: raw secret / floor (goal <= 2.2)", s + f"twofactor_raw_secret/{case}", floor)
for alg in ("SHA1", "SHA256", "SHA512"):
    for case in ("far_edge", "wrong"):
        p = f"verify_pm1/{alg}/"
        ratio(f"{alg} {case}: totp-rs / prepared (goal >= 2.5 for SHA1)", p + f"totp-rs/{case}", p + f"twofactor_prepared/{case}")
        ratio(f"{alg} {case}: totp-rs / raw secret", p + f"totp-rs/{case}", p + f"twofactor_raw_secret/{case}")
ratio("probe: six independent / six chained (< 1 means overlap)", "sha1_compress_probe/six_independent", "sha1_compress_probe/six_chained")
ratio("probe: six chained / one", "sha1_compress_probe/six_chained", "sha1_compress_probe/one")
for alg in ("SHA1", "SHA256", "SHA512"):
    ratio(f"generate {alg}: totp-rs / twofactor", f"generate/{alg}/totp-rs", f"generate/{alg}/twofactor")
