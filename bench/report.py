#!/usr/bin/python3
"""
report.py RESULTS.jsonl - the table bench/run prints (Markdown).

Each line of RESULTS is either one kh_loadgen run ({"server", "scenario",
"conns", "idle", "rps", ...}) or a {"kind": ...} record (memory, machine).
With several rounds, each cell is the run with the median throughput.
Targets are reported, never asserted: this machine is shared and noisy.
"""
import json
import statistics
import sys
from collections import defaultdict

MIB = 1024.0


def load(path):
    runs, kinds = defaultdict(list), {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            r = json.loads(line)
            if "kind" in r:
                kinds[r["kind"]] = r
                continue
            if r["scenario"] == "preload":
                kinds.setdefault("preload", []).append(r)
                continue
            server = "keyhold" if r["server"] == "keyhold-mem" else r["server"]
            key = (r["scenario"], r["conns"], r["idle"])
            runs[(key, server)].append(r)
    return runs, kinds


def median_run(rs):
    if not rs:
        return None
    rs = sorted(rs, key=lambda r: r["rps"])
    return rs[(len(rs) - 1) // 2]


def supported(r):
    return r is not None and not (r["ok"] == 0 and r["unsupported"] > 0)


def fmt_rps(r):
    if r is None:
        return "-"
    if not supported(r):
        return "n/a"
    star = "*" if r["unsupported"] else ""
    return "{:,.0f}{}".format(r["rps"], star)


def ratio(a, b, pct):
    if not (supported(a) and supported(b)) or b["rps"] <= 0:
        return "-" if a is None or b is None else "n/a"
    v = a["rps"] / b["rps"]
    return "{:.0f}%".format(100 * v) if pct else "{:,.0f}x".format(v)


def ms(us):
    return "{:.2f}".format(us / 1000.0)


def lat(r):
    if not supported(r):
        return "-"
    return "{} / {} / {}".format(ms(r["p50_us"]), ms(r["p99_us"]), ms(r["p999_us"]))


def cpu_per_req(r):
    """The server's CPU time per answered request (bench/run's cpu_ms, and
    db_cpu_ms: the PostgreSQL cluster's, when keyhold runs on one)."""
    if r is None or "cpu_ms" not in r or not r.get("requests"):
        return "-"
    return "{:.0f}".format(1000.0 * (r["cpu_ms"] + r.get("db_cpu_ms", 0)) / r["requests"])


def split_cpu(r):
    """keyhold's and the PostgreSQL cluster's CPU time per answered request."""
    if r is None or "db_cpu_ms" not in r or "cpu_ms" not in r or not r.get("requests"):
        return "-"
    k, d = (1000.0 * r[f] / r["requests"] for f in ("cpu_ms", "db_cpu_ms"))
    return "{:.0f} + {:.0f}".format(k, d)


def errs(*rs):
    return "/".join("-" if r is None else str(r["failed"] + r["conn_errors"]) for r in rs)


def scenario_label(key):
    s, c, idle = key
    names = {"get": "Get", "encrypt": "Encrypt 64 B GCM", "create": "Create AES-256",
             "locate": "Locate by name", "mixed": "Mixed 80/15/5",
             "kes-generate": "KES generate (HTTPS)", "kes-decrypt": "KES decrypt (HTTPS)"}
    label = "{} c={}".format(names.get(s, s), c)
    if idle:
        label += " + {:,} idle".format(idle)
    return label


def main():
    runs, kinds = load(sys.argv[1])
    m = kinds.get("machine", {})
    mem = kinds.get("memory")
    have_py = any(srv == "pykmip" for (_, srv) in runs)
    # keyhold on PostgreSQL: where its CPU goes, keyhold's or the cluster's
    have_db = any("db_cpu_ms" in r for (_, srv), rs in runs.items() if srv == "keyhold"
                  for r in rs)
    order = {"get": 0, "encrypt": 1, "create": 2, "locate": 3, "mixed": 4,
             "kes-generate": 5, "kes-decrypt": 6}
    kes = ("kes-generate", "kes-decrypt")
    keys = sorted({k for (k, _) in runs},
                  key=lambda k: (k[2] > 0, k[0] in kes, k[1], order.get(k[0], 9)))

    backend = {"sqlite": "SQLite", "postgres": "PostgreSQL"}.get(m.get("backend", "sqlite"))
    print("## keyhold benchmark ({} run, {})".format(m.get("mode", "?"), backend))
    print()
    if m.get("store"):
        print("Store: {}".format(m["store"]))
        print()
    print("Machine: {} CPUs, {}, {}, OpenSSL {}. {} s per cell, {} round(s) (median). "
          "Locate searches {:,} named keys in keyhold, {:,} in pykmip-server.".format(
              m.get("nproc"), m.get("cpu"), m.get("kernel"), m.get("openssl"),
              m.get("seconds"), m.get("rounds"), m.get("locate_objects", 0),
              m.get("pykmip_objects", 0)))
    print()
    head = ["scenario", "ceiling req/s", "keyhold req/s"]
    if have_py:
        head.append("pykmip req/s")
    head.append("keyhold / ceiling")
    if have_py:
        head.append("keyhold / pykmip")
    head += ["keyhold p50 / p99 / p99.9 ms", "ceiling p99 ms"]
    if have_py:
        head.append("pykmip p50 ms")
    head.append("errors c/k" + ("/p" if have_py else ""))
    if have_db:
        head.append("keyhold CPU us/req: keyhold + PostgreSQL")
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" for _ in head) + "|")
    cells = {}
    for key in keys:
        c = median_run(runs.get((key, "ceiling"), []))
        k = median_run(runs.get((key, "keyhold"), []))
        p = median_run(runs.get((key, "pykmip"), [])) if have_py else None
        cells[key] = (c, k, p)
        row = [scenario_label(key), fmt_rps(c), fmt_rps(k)]
        if have_py:
            row.append(fmt_rps(p) if p else "not run")
        row.append(ratio(k, c, True))
        if have_py:
            row.append(ratio(k, p, False) if p else "-")
        row += [lat(k), ms(c["p99_us"]) if c else "-"]
        if have_py:
            row.append(ms(p["p50_us"]) if supported(p) else "-")
        row.append(errs(c, k, p) if have_py else errs(c, k))
        if have_db:
            row.append(split_cpu(k))
        print("| " + " | ".join(row) + " |")
    print()
    print("n/a: the server answered OperationNotSupported. *: part of the mix was answered "
          "OperationNotSupported (keyhold's Encrypt), so that rate is flattered. errors: failed "
          "requests + connection errors. The ceiling answers every request with one fixed Get "
          "reply: same TLS, framing and threads, no work; on HTTPS (KES rows: keep-alive "
          "HTTP/1.1 on the HTTPS listener) with one fixed 200 JSON body from a worker.")
    print()

    if any(srv == "baseline" for (_, srv) in runs):
        print("### keyhold against the baseline binary (--baseline), same run")
        print()
        print("| scenario | ceiling req/s | baseline req/s | keyhold req/s | keyhold / baseline "
              "| baseline / ceiling | keyhold / ceiling | baseline p50 / p99 ms "
              "| keyhold p50 / p99 ms | server CPU us/req: ceiling / baseline / keyhold |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for key in keys:
            c, k, _ = cells[key]
            b = median_run(runs.get((key, "baseline"), []))
            if b is None:
                continue
            kb = "{:.2f}x".format(k["rps"] / b["rps"]) if (
                supported(k) and supported(b) and b["rps"] > 0) else "-"
            row = [scenario_label(key), fmt_rps(c), fmt_rps(b), fmt_rps(k), kb,
                   ratio(b, c, True), ratio(k, c, True)]
            row += ["{} / {}".format(ms(r["p50_us"]), ms(r["p99_us"])) if supported(r) else "-"
                    for r in (b, k)]
            row.append(" / ".join(cpu_per_req(r) for r in (c, b, k)))
            print("| " + " | ".join(row) + " |")
        print()

    if mem:
        idle_run = median_run(runs.get(((("get", 8, mem["idle"])), "keyhold"), []))
        ceil_idle = median_run(runs.get(((("get", 8, mem["idle"])), "ceiling"), []))
        print("### Memory (keyhold VmRSS)")
        print()
        print("| state | VmRSS MiB | VmHWM MiB |")
        print("|---|---|---|")
        print("| started, empty database | {:.1f} | |".format(mem["rss_start_kib"] / MIB))
        print("| after storing {:,} keys (database {:.0f} MiB on disk) | {:.1f} | {:.1f} |".format(
            mem["keys"], mem["db_kib"] / MIB, mem["rss_keys_kib"] / MIB,
            mem["hwm_keys_kib"] / MIB))
        if idle_run:
            print("| + {:,} idle TLS connections ({:,} opened) | {:.1f} | |".format(
                idle_run["idle"], idle_run["idle_open"], idle_run["rss_idle_kib"] / MIB))
            print("| + the same while 8 connections run Get | {:.1f} | {:.1f} |".format(
                idle_run["rss_kib"] / MIB, idle_run["hwm_kib"] / MIB))
        if ceil_idle and ceil_idle["idle_open"]:
            print("| (ceiling server, same {:,} idle connections, no keys) | {:.1f} | {:.1f} |"
                  .format(ceil_idle["idle_open"], ceil_idle["rss_idle_kib"] / MIB,
                          ceil_idle["hwm_kib"] / MIB))
        print()
    pre = [r for r in kinds.get("preload", []) if r["server"] in ("keyhold", "keyhold-mem")]
    if pre:
        best = max(pre, key=lambda r: r["requests"])
        print("Preload: keyhold stored {:,} named keys at {:,.0f}/s (c={}, durable, p99 {} ms)."
              .format(best["ok"], best["rps"], best["conns"], ms(best["p99_us"])))
        print()

    print("### Targets (reported, not asserted)")
    print()

    def cell(s, c=8):
        return cells.get((s, c, 0), (None, None, None))

    def target(name, ok, value):
        verdict = "n/a" if ok is None else ("met" if ok else "MISSED")
        print("- {}: {} ({})".format(name, verdict, value))

    c, k, p = cell("get")
    r = k["rps"] / c["rps"] if supported(k) and supported(c) else None
    target("Get c=8 >= 70% of ceiling", None if r is None else r >= 0.7,
           "{:.0f}%".format(100 * r) if r is not None else "not measured")
    c, k, p = cell("encrypt")
    r = k["rps"] / c["rps"] if supported(k) and supported(c) else None
    target("Encrypt c=8 >= 60% of ceiling", None if r is None else r >= 0.6,
           "{:.0f}%".format(100 * r) if r is not None
           else "not measured" if k is None else "keyhold answers OperationNotSupported")
    # Absolute targets, with what the no-work ceiling did in the same cell:
    # on a slow machine the ceiling itself may miss them.
    c, k, p = cell("create")
    target("Create AES-256 durable c=8 >= 20,000/s", None if not supported(k)
           else k["rps"] >= 20000, "{:,.0f}/s{}".format(
               k["rps"], "; the no-work ceiling did {:,.0f}/s in the same cell".format(c["rps"])
               if supported(c) else "") if k else "not measured")
    for s in ("get", "encrypt"):
        c, k, _ = cell(s)
        target("p99 < 2 ms at c=8, {}".format(s), None if not supported(k)
               else k["p99_us"] < 2000, "{} ms{}".format(
                   ms(k["p99_us"]), "; the ceiling's own p99 {} ms".format(ms(c["p99_us"]))
                   if supported(c) else "") if supported(k)
               else "not measured" if k is None else "OperationNotSupported")
    for s in kes:
        for conns in (1, 8, 64):
            c, k, p = cell(s, conns)
            if c is None and k is None:
                continue
            r = k["rps"] / c["rps"] if supported(k) and supported(c) and c["rps"] else None
            target("{} c={} >= 50% of the HTTPS ceiling".format(scenario_label((s, conns, 0))
                                                                  .rsplit(" c=", 1)[0], conns),
                   None if r is None else r >= 0.5,
                   "{:.0f}%".format(100 * r) if r is not None else "not measured")
    if mem:
        idle_run = median_run(runs.get(((("get", 8, mem["idle"])), "keyhold"), []))
        worst = max(mem["rss_keys_kib"], idle_run["hwm_kib"] if idle_run else 0)
        target("RSS < 64 MiB with {:,} keys and {:,} idle connections".format(
            mem["keys"], mem["idle"]), worst < 64 * MIB, "{:.1f} MiB{}".format(
                worst / MIB, "; the no-work ceiling {:.1f} MiB with the same {:,} idle".format(
                    ceil_idle["hwm_kib"] / MIB, ceil_idle["idle_open"])
                if ceil_idle and ceil_idle["idle_open"] else ""))
    if have_py:
        ratios = []
        for key, (c, k, p) in cells.items():
            if supported(k) and supported(p) and p["rps"] > 0 and not k["unsupported"]:
                # what a server doing no work reaches against pykmip in the same cell:
                # keyhold cannot be further ahead than that
                bound = c["rps"] / p["rps"] if supported(c) else float("nan")
                ratios.append((k["rps"] / p["rps"], scenario_label(key), bound))
        if ratios:
            lo = min(ratios)
            gm = statistics.geometric_mean([x for x, _, _ in ratios])
            target(">= 150x pykmip-server", lo[0] >= 150,
                   "lowest {:,.0f}x ({}, where the no-work ceiling is {:,.0f}x), "
                   "geometric mean {:,.0f}x".format(lo[0], lo[1], lo[2], gm))
    print()
    print("Run took {} s.".format(m.get("elapsed_s", "?")))


if __name__ == "__main__":
    main()
