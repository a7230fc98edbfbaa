#!/usr/bin/env python3
"""Prints the median of every criterion benchmark of the last runs, the ratios each bench is
judged by, and the tables the benches write beside criterion's results (the login audit, the
latency table). Run the benches first (see benches/lib.rs), then
`python3 benches/summarize.py [target/criterion]`."""
import json
import pathlib
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target/criterion")
medians = {}
for est in sorted(root.glob("**/new/estimates.json")):
    bench = json.loads((est.parent / "benchmark.json").read_text())
    medians[bench["full_id"]] = json.loads(est.read_text())["median"]["point_estimate"]


def fmt(ns):
    if ns >= 1e6:
        return f"{ns / 1e6:9.3f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:9.2f} us"
    return f"{ns:9.1f} ns"


width = max(map(len, medians), default=0)
for name, ns in medians.items():
    print(f"{name:<{width}}  {fmt(ns)}")


def ratio(label, a, b, goal=None):
    """Prints medians[a] / medians[b], with the goal's verdict when given (ratio <= goal)."""
    if a in medians and b in medians:
        r = medians[a] / medians[b]
        verdict = ""
        if goal is not None:
            verdict = f"  goal <= {goal}: " + ("met" if r <= goal else f"NOT met (+{(r / goal - 1) * 100:.0f}% over)")
        print(f"{label:<64} {fmt(medians[a])} / {fmt(medians[b])} = {r:6.2f}x{verdict}")


print()
s = "verify_pm1/SHA1/"
floor = s + "floor/six_sha1_compressions"
for case in ("far_edge", "wrong"):
    ratio(f"SHA1 {case}: prepared / floor", s + f"twofactor_prepared/{case}", floor, 1.6)
    ratio(f"SHA1 {case}: raw secret / floor", s + f"twofactor_raw_secret/{case}", floor, 2.2)
for alg in ("SHA1", "SHA256", "SHA512"):
    for case in ("far_edge", "wrong"):
        p = f"verify_pm1/{alg}/"
        ratio(f"{alg} {case}: totp-rs / prepared (goal >= 2.5 for SHA1)", p + f"totp-rs/{case}", p + f"twofactor_prepared/{case}")
        ratio(f"{alg} {case}: totp-rs / raw secret", p + f"totp-rs/{case}", p + f"twofactor_raw_secret/{case}")
ratio("probe: six independent / six chained (< 1 means overlap)", "sha1_compress_probe/six_independent", "sha1_compress_probe/six_chained")
ratio("probe: six chained / one", "sha1_compress_probe/six_chained", "sha1_compress_probe/one")
for alg in ("SHA1", "SHA256", "SHA512"):
    ratio(f"generate {alg}: totp-rs / twofactor", f"generate/{alg}/totp-rs", f"generate/{alg}/twofactor")

print()
print("Logins: store / raw-driver baseline (same run)")
for group, goal in (
    ("login_postgres", 1.15),
    ("login_sqlx_postgres", 1.15),
    ("login_sqlx_postgres_noping", 1.15),
    ("login_mysql", 1.15),
    ("login_mysql_noping", 1.15),
    ("login_sqlite", 1.3),
):
    for case in ("single", "concurrent_8"):
        ratio(f"{group} {case}: store / raw", f"{group}/store/{case}", f"{group}/raw/{case}", goal)
for group in ("login_sqlx_postgres", "login_sqlx_postgres_noping", "login_mysql", "login_mysql_noping"):
    for case in ("single", "concurrent_8"):
        ratio(f"{group} {case}: store / raw_per_statement (diagnostic)", f"{group}/store/{case}", f"{group}/raw_per_statement/{case}")
for case in ("single", "concurrent_8"):
    ratio(f"login_postgres {case}: raw_gap / raw (the flow's CPU between the statements)", f"login_postgres/raw_gap/{case}", f"login_postgres/raw/{case}")
    ratio(f"login_postgres {case}: store / raw_gap (diagnostic)", f"login_postgres/store/{case}", f"login_postgres/raw_gap/{case}")
for variant in ("raw_gap", "raw_uncached", "raw_one_hop", "raw_no_hop"):
    ratio(f"login_sqlite single: store / {variant} (diagnostic)", "login_sqlite/store/single", f"login_sqlite/{variant}/single")
ratio("login_sqlite single: raw / raw_no_hop (what two hops cost)", "login_sqlite/raw/single", "login_sqlite/raw_no_hop/single")
ratio("login_memory single: store / Totp::new + verify", "login_memory/store/single", "login_memory/core/totp_new_and_verify", 2.0)
if "login_memory/store/concurrent_8" in medians and "login_memory/core/totp_new_and_verify" in medians:
    r = medians["login_memory/store/concurrent_8"] / 8 / medians["login_memory/core/totp_new_and_verify"]
    print(f"{'login_memory concurrent_8: (round / 8) / Totp::new + verify':<64} {r:6.2f}x")

print()
print("Several authenticators: a code login through MemoryStore / the same with one")
ratio("authenticators: five (primary matches) / one", "authenticators/five_primary_matches", "authenticators/one")
ratio("authenticators: five (last added matches) / one", "authenticators/five_last_matches", "authenticators/one")

print()
print("Paging: page after the 900,000th of 1,000,000 users / first page")
for backend in ("sqlite", "postgres"):
    for op in ("list", "admin_list"):
        ratio(f"paging_{backend} {op}: at_90pct / first", f"paging_{backend}/{op}/at_90pct", f"paging_{backend}/{op}/first", 2.0)

# The interleaved runs (`paired` in benches/lib.rs): the same goals, judged on the ratio of the
# medians and on the median of the per-pair ratios.
goals = {"login_sqlite": 1.3}
for table in sorted((root / "twofactor").glob("*_paired.txt")):
    print()
    print(f"Interleaved logins ({table.name}): store / raw, goal per group")
    for line in table.read_text().splitlines():
        if ": store / raw" not in line or "ratio" not in line:
            continue
        label = line.split(": store / raw")[0]
        goal = goals.get(label.split()[0], 1.15)
        medians_ratio = float(line.split("ratio")[1].split("x")[0])
        per_pair = float(line.split("per pair: median")[1].split("x")[0]) if "per pair" in line else None
        worst = max(r for r in (medians_ratio, per_pair) if r is not None)
        verdict = "met" if worst <= goal else f"NOT met (+{(worst / goal - 1) * 100:.0f}% over)"
        shown = f"medians {medians_ratio:5.2f}x" + (f", per pair {per_pair:5.2f}x" if per_pair is not None else "")
        print(f"{label:<40} {shown}  goal <= {goal}: {verdict}")

for table in sorted((root / "twofactor").glob("*.txt")):
    print()
    print(f"== {table.name}")
    print(table.read_text().rstrip())
