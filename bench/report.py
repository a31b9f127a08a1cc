#!/usr/bin/env python3
"""Turns a bench/run result directory (meta.txt, results.tsv, idle.tsv, spread.tsv) into Markdown.

Medians over rounds per workload and target, then ratios pgsteer/PgBouncer (pgsteer/pgpool-II for
`bench/run split`) and pgsteer/direct; for split, where each target's transactions ran.
A report, not a verdict: it never fails on the numbers. Usage: bench/report.py RESULT_DIR
"""
import statistics
import sys
from pathlib import Path

LABELS = {"direct": "direct", "pgbouncer": "PgBouncer", "pgsteer": "pgsteer", "pgpool": "pgpool-II"}
# Which targets a run compared (meta `targets`; runs before `split` existed had these three).
TARGETS = [(k, LABELS[k]) for k in ("direct", "pgbouncer", "pgsteer")]
WORKLOAD_NAMES = {
    "select-simple": "select-only, `-M simple`",
    "select-extended": "select-only, `-M extended`",
    "select-prepared": "select-only, `-M prepared`",
    "select-tls": "select-only, `-M simple`, client TLS",
    "tpcb": "TPC-B-like, `-M simple`",
    "tpcb-simple": "TPC-B-like, `-M simple`",
    "tpcb-extended": "TPC-B-like, `-M extended`",
    "tpcb-prepared": "TPC-B-like, `-M prepared`",
}
RESULT_COLUMNS = ["round", "workload", "target", "status", "tx", "tps", "latency_ms", "failed",
                  "aborted", "cpu_ticks", "rss_kb", "hwm_kb", "note", "syscalls",
                  "context_switches"]
SPREAD_COLUMNS = ["round", "workload", "target", "node", "xact_before", "tup_before", "xact_after",
                  "tup_after"]
IDLE_COLUMNS = ["target", "clients", "connected", "rss_before_kb", "rss_after_kb", "hwm_after_kb",
                "still_connected", "note"]


def read_tsv(path, columns):
    rows = []
    if not path.exists():
        return rows
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        cells = line.split("\t")
        cells += [""] * (len(columns) - len(cells))
        rows.append(dict(zip(columns, cells)))
    return rows


def num(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(value, digits=0):
    if value is None:
        return "—"
    return f"{value:,.{digits}f}"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "n/a"
    return f"{a / b:.2f}x"


def summarize(rows, clk_tck):
    """Per target of one workload: medians over rounds, failures summed, why it failed."""
    runs = [r for r in rows if r["status"] != "n/a"]
    if not runs:
        reasons = sorted({r["note"] for r in rows if r["note"]})
        return {"state": "n/a", "why": "; ".join(reasons) or "not run"}
    cpu_per_tx = []
    for r in runs:
        ticks, tx = num(r["cpu_ticks"]), num(r["tx"])
        if ticks is not None and tx:
            cpu_per_tx.append(ticks * 1e6 / clk_tck / tx)
    def per_tx(column):
        values = []
        for r in runs:
            count, tx = num(r.get(column)), num(r["tx"])
            if count is not None and tx:
                values.append(count / tx)
        return median(values)

    failed_runs = [r for r in runs if r["status"] != "ok"]
    rss = [num(r["rss_kb"]) for r in runs]
    hwm = [num(r["hwm_kb"]) for r in runs]
    return {
        "state": "failed" if failed_runs else "ok",
        "why": "; ".join(sorted({r["note"] for r in failed_runs if r["note"]}))[:200],
        "rounds": len(runs),
        "failed_rounds": len(failed_runs),
        "tps": median([num(r["tps"]) for r in runs]),
        "latency": median([num(r["latency_ms"]) for r in runs]),
        "failed_tx": sum(int(num(r["failed"]) or 0) for r in runs),
        "aborted": sum(int(num(r["aborted"]) or 0) for r in runs),
        "cpu_us_tx": median(cpu_per_tx),
        "syscalls_tx": per_tx("syscalls"),
        "switches_tx": per_tx("context_switches"),
        "rss_mib": (rss[-1] / 1024) if rss and rss[-1] is not None else None,
        "hwm_mib": max((h / 1024 for h in hwm if h is not None), default=None),
    }


def tps_section(meta, results):
    clk_tck = float(meta.get("clk_tck", "100"))
    # The proxy pgsteer is compared with: PgBouncer, or pgpool-II for the split workload.
    peer = next((k for k, _ in TARGETS if k not in ("direct", "pgsteer")), "pgbouncer")
    peer_label = LABELS[peer]
    workloads = list(dict.fromkeys(r["workload"] for r in results))
    out = [
        f"### pgbench: {meta.get('clients')} clients (`-j {meta.get('threads')}`), pool size "
        f"{meta.get('pool_size')}, scale {meta.get('scale')}, {meta.get('rounds')} rounds x "
        f"{meta.get('seconds')} s, interleaved; medians over rounds; pgsteer "
        f"`workers: {meta.get('pgsteer_workers', 'auto')}`",
        "",
        "| workload | target | TPS | latency avg (ms) | failed tx | proxy CPU µs/tx "
        "| proxy syscalls/tx | proxy context switches/tx | proxy RSS / peak (MiB) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    ratios = []
    for w in workloads:
        summary = {}
        for key, label in TARGETS:
            s = summarize([r for r in results if r["workload"] == w and r["target"] == key],
                          clk_tck)
            summary[key] = s
            name = WORKLOAD_NAMES.get(w, w) if key == TARGETS[0][0] else ""
            if s["state"] == "n/a":
                out.append(f"| {name} | {label} | n/a | | | | | | |")
                continue
            failed = str(s["failed_tx"])
            if s["aborted"]:
                failed += f", {s['aborted']} clients aborted"
            if s["state"] == "failed":
                failed = f"**failed** ({s['failed_rounds']}/{s['rounds']} rounds): {failed}"
            tps = fmt(s["tps"])
            if s["state"] == "failed":
                tps = f"({tps})"
            proxy = key != "direct"
            cpu = fmt(s["cpu_us_tx"], 1) if proxy else "—"
            mem = f"{fmt(s['rss_mib'], 1)} / {fmt(s['hwm_mib'], 1)}" if proxy else "—"
            calls = fmt(s["syscalls_tx"], 1) if proxy else "—"
            switches = fmt(s["switches_tx"], 2) if proxy else "—"
            out.append(f"| {name} | {label} | {tps} | {fmt(s['latency'], 2)} | {failed} | {cpu} "
                       f"| {calls} | {switches} | {mem} |")
        ok = {k: (v if v["state"] == "ok" else None) for k, v in summary.items()}
        ok.setdefault(peer, None)
        get = lambda k, f: ok[k][f] if ok.get(k) else None  # noqa: E731
        ratios.append(
            f"| {WORKLOAD_NAMES.get(w, w)} | {ratio(get('pgsteer', 'tps'), get(peer, 'tps'))} "
            f"| {ratio(get('pgsteer', 'tps'), get('direct', 'tps'))} "
            f"| {ratio(get('pgsteer', 'cpu_us_tx'), get(peer, 'cpu_us_tx'))} |")
    out += [
        "",
        f"| workload | pgsteer/{peer_label} TPS | pgsteer/direct TPS "
        f"| pgsteer/{peer_label} CPU per tx |",
        "| --- | ---: | ---: | ---: |",
        *ratios,
        "",
        "A ratio is n/a where either side failed or did not run. TPS in parentheses: the run "
        "failed (clients aborted), so the number is not comparable.",
    ]
    rounds = sorted({int(r["round"]) for r in results})
    out += ["", "TPS of every round (spread = noise; `failed` and `n/a` as above):", "",
            "| workload | target | " + " | ".join(f"round {n}" for n in rounds) + " |",
            "| --- | --- |" + " ---: |" * len(rounds)]
    for w in workloads:
        for key, label in TARGETS:
            cells = []
            for n in rounds:
                row = next((r for r in results if r["workload"] == w and r["target"] == key
                            and int(r["round"]) == n), None)
                if row is None or row["status"] == "n/a":
                    cells.append("n/a")
                elif row["status"] != "ok":
                    cells.append("failed")
                else:
                    cells.append(fmt(num(row["tps"])))
            out.append(f"| {WORKLOAD_NAMES.get(w, w) if key == TARGETS[0][0] else ''} | {label} | "
                       + " | ".join(cells) + " |")
    reasons = []
    for w in workloads:
        for key, label in TARGETS:
            s = summarize([r for r in results if r["workload"] == w and r["target"] == key],
                          clk_tck)
            if s["state"] != "ok" and s["why"]:
                reasons.append(f"- {label}, {WORKLOAD_NAMES.get(w, w)}: {s['why']}")
    if reasons:
        out += ["", "Failures and n/a:", "", *dict.fromkeys(reasons)]
    return out


def spread_section(meta, results, spread):
    """Where each target's transactions ran: every node's share of the change in database app's
    xact_commit over a workload's runs (all rounds summed)."""
    nodes = []  # (name, role, port) in configuration order
    for item in meta.get("nodes", "").split():
        name, role, port = (item.split(":") + ["", ""])[:3]
        nodes.append((name, role, port))
    if not nodes:
        nodes = [(n, "?", "") for n in dict.fromkeys(r["node"] for r in spread)]
    out = [
        "### Where the transactions ran: each node's share of `pg_stat_database.xact_commit` "
        "(database `app`), all rounds",
        "",
        "| workload | target | " + " | ".join(f"{n} ({role} :{port})" for n, role, port in nodes)
        + " | commits counted / pgbench tx |",
        "| --- | --- |" + " ---: |" * (len(nodes) + 1),
    ]
    workloads = list(dict.fromkeys(r["workload"] for r in results))
    for w in workloads:
        for key, label in TARGETS:
            name = WORKLOAD_NAMES.get(w, w) if key == TARGETS[0][0] else ""
            rows = [r for r in spread if r["workload"] == w and r["target"] == key]
            delta = {}
            for r in rows:
                before, after = num(r["xact_before"]), num(r["xact_after"])
                if before is None or after is None:
                    delta[r["node"]] = None  # a node did not answer: its share is unknown
                elif delta.get(r["node"], 0) is not None:
                    delta[r["node"]] = delta.get(r["node"], 0) + after - before
            total = sum(v for v in delta.values() if v is not None)
            if not rows or total <= 0:
                out.append(f"| {name} | {label} |" + " n/a |" * (len(nodes) + 1))
                continue
            cells = []
            for n, _, _ in nodes:
                v = delta.get(n)
                cells.append("?" if v is None else f"{100 * v / total:.1f} %")
            runs = [r for r in results if r["workload"] == w and r["target"] == key
                    and r["status"] != "n/a"]
            tx = sum(num(r["tx"]) or 0 for r in runs)
            counted = ratio(total, tx) if tx else "n/a"
            out.append(f"| {name} | {label} | " + " | ".join(cells) + f" | {counted} |")
    out += [
        "",
        "Shares are of the commits counted on all nodes from just before a run to "
        f"{meta.get('stats_settle', '?')} s after it (once idle servers flushed their "
        "statistics). A pgbench transaction is one commit; whatever else ran in `app` meanwhile "
        "counts too (pgpool-II's catalog look-ups, for one), so commits counted / pgbench tx "
        "close to 1.00x says the shares are the benchmark's own transactions. pgpool-II: primary "
        "weight 0, replicas 1 each, statement_level_load_balance "
        f"{meta.get('pgpool_statement_lb', '?')}.",
    ]
    return out


def idle_section(meta, idle):
    out = [
        f"### {int(meta.get('idle_clients', '0')):,} idle authenticated clients (SCRAM-SHA-256), "
        "fresh proxy each",
        "",
        "| proxy | connected | stayed | RSS before (MiB) | RSS after (MiB) | bytes per idle client |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    per_client = {}
    notes = []
    for key, label in TARGETS[1:]:
        rows = [r for r in idle if r["target"] == key]
        if not rows or num(rows[-1]["connected"]) is None:
            out.append(f"| {label} | n/a | | | | |")
            if rows and rows[-1]["note"]:
                notes.append(f"- {label}: {rows[-1]['note']}")
            continue
        r = rows[-1]
        before, after, connected = num(r["rss_before_kb"]), num(r["rss_after_kb"]), num(r["connected"])
        bytes_per = (after - before) * 1024 / connected if None not in (before, after) and connected else None
        per_client[key] = bytes_per
        out.append(f"| {label} | {fmt(connected)} | {fmt(num(r['still_connected']))} "
                   f"| {fmt(before / 1024 if before is not None else None, 1)} "
                   f"| {fmt(after / 1024 if after is not None else None, 1)} | {fmt(bytes_per)} |")
        if r["note"]:
            notes.append(f"- {label}: {r['note']}")
    out += ["", f"pgsteer/PgBouncer bytes per idle client: "
            f"{ratio(per_client.get('pgsteer'), per_client.get('pgbouncer'))}"]
    if notes:
        out += ["", *notes]
    return out


def main():
    global TARGETS
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    d = Path(sys.argv[1])
    meta = {}
    for line in (d / "meta.txt").read_text().splitlines():
        key, _, value = line.partition("=")
        meta[key] = value
    if meta.get("targets"):
        TARGETS = [(k, LABELS.get(k, k)) for k in meta["targets"].split()]
    results = read_tsv(d / "results.tsv", RESULT_COLUMNS)
    idle = read_tsv(d / "idle.tsv", IDLE_COLUMNS)
    spread = read_tsv(d / "spread.tsv", SPREAD_COLUMNS)
    split = meta.get("mode") == "split"
    peer = (f"{meta.get('pgpool', 'pgpool-II ?')} (load balancing, streaming replication mode)"
            if split else meta.get("pgbouncer", "PgBouncer ?"))
    out = [
        f"## pgsteer benchmark, {meta.get('date', '?')}",
        "",
        f"- machine: {meta.get('cpu', '?')} (pgbench, both proxies and PostgreSQL share it); "
        f"load average before {meta.get('load_before', '?')}, after {meta.get('load_after', '?')}",
        f"- pgsteer: {meta.get('pgsteer', '?')}, commit {meta.get('commit', '?')}; pgbench asks "
        f"it for database `{meta.get('pgsteer_db', '?')}`",
        f"- {peer}; {meta.get('postgres', 'PostgreSQL ?')}",
        "",
    ]
    if split:
        out[0] = f"## pgsteer read/write split benchmark, {meta.get('date', '?')}"
    if results:
        out += tps_section(meta, results) + [""]
    if split and results:
        out += spread_section(meta, results, spread) + [""]
    if "idle_clients" in meta:
        out += idle_section(meta, idle) + [""]
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
