"""Turns the results dict into a terminal table, latest.md, latest.json and latest.png."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

Result = dict[str, Any]

# (column title, workload, metric key, higher is better, format)
QUEUE_COLUMNS: list[tuple[str, str, str, bool, str]] = [
    ("enqueue/s", "enqueue", "tasks_per_s", True, "{:,.0f}"),
    ("bulk/s", "bulk", "tasks_per_s", True, "{:,.0f}"),
    ("drain/s", "drain", "tasks_per_s", True, "{:,.0f}"),
    ("latency p50 ms", "latency", "p50_ms", False, "{:,.2f}"),
    ("latency p99 ms", "latency", "p99_ms", False, "{:,.2f}"),
]
HTTP_COLUMNS: list[tuple[str, str, bool, str]] = [
    ("req/s", "req_per_s", True, "{:,.0f}"),
    ("p50 ms", "p50_ms", False, "{:,.2f}"),
    ("p99 ms", "p99_ms", False, "{:,.2f}"),
    ("server CPU µs/req", "server_cpu_us", False, "{:,.0f}"),
    ("completed/s", "completed_per_s", True, "{:,.0f}"),
    ("worker CPU µs/task", "worker_cpu_us", False, "{:,.0f}"),
    ("drain after load s", "drain_after_load_s", False, "{:,.2f}"),
]
TASKQ_ROWS = ("taskq", "taskq-inproc", "taskq-normal", "taskq-pg")


def _cell(entry: Result | None, key: str, fmt: str) -> str:
    if entry is None:
        return "-"
    status = entry.get("status")
    if status == "n/a":
        return "n/a"
    if status == "failed":
        return "FAILED"
    stat = entry.get(key)
    if not isinstance(stat, dict):
        return "-"
    med, lo, hi = (fmt.format(stat[k]) for k in ("median", "min", "max"))
    return med if lo == hi else f"{med} [{lo}-{hi}]"


def _table(headers: list[str], rows: list[list[str]], markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]

    def fmt(r: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )

    return "\n".join([fmt(headers), "  ".join("-" * w for w in widths), *map(fmt, rows)])


def _median(entry: Result | None, key: str) -> float | None:
    if not entry or entry.get("status") != "ok" or not isinstance(entry.get(key), dict):
        return None
    return float(entry[key]["median"])


def _failures(results: Result) -> list[str]:
    out: list[str] = []
    for name, sysres in results.get("systems", {}).items():
        if sysres.get("status") == "failed":
            out.append(f"{name}: failed to load: {sysres.get('error')}")
        for wl, entry in sysres.get("workloads", {}).items():
            if entry.get("status") == "failed":
                out.append(f"{name} {wl}: {entry.get('error')}")
            elif entry.get("status") == "n/a" and name != "taskq-inproc":
                out.append(f"{name} {wl}: n/a ({entry.get('reason')})")
    for name, entry in results.get("http", {}).get("targets", {}).items():
        if entry.get("status") == "failed":
            out.append(f"http {name}: {entry.get('error')}")
    for key in ("rss", "rss_pg"):
        if results.get(key, {}).get("status") == "failed":
            out.append(f"{key}: {results[key].get('error')}")
    return out


def notes(results: Result) -> list[str]:
    """Things a reader needs in order not to misread the tables."""
    out: list[str] = []
    meta = results.get("meta", {})
    cores = meta.get("cpu_cores") or 1
    busy = [("start", meta.get("loadavg_at_start")), ("end", meta.get("loadavg_at_end"))]
    for when, load in busy:
        if load and load[0] > 0.5 * cores:
            out.append(
                f"machine busy at {when}: 1-min load average {load[0]:.2f} on {cores} "
                "cores from other processes; expect noisy numbers"
            )
    for name, s in results.get("systems", {}).items():
        wls = s.get("workloads", {})
        drain, lat = wls.get("drain", {}), wls.get("latency", {})
        rate = (lat.get("runs") or [{}])[0].get("rate", 200.0)
        capacity = _median(drain, "tasks_per_s")
        if capacity is not None and capacity < rate and lat.get("status") == "ok":
            out.append(
                f"{name}: drains {capacity:,.0f} tasks/s < the {rate:.0f}/s offered in "
                "the latency run, so its latency is mostly queueing"
            )
        for run in drain.get("runs", []):
            n = results.get("meta", {}).get("sizes", {}).get("n")
            stored = run.get("results_stored")
            if stored is not None and n is not None and stored != n:
                out.append(f"{name}: drain stored {stored} results for {n} tasks")
            if n is not None and run.get("handler_runs", n) > n:
                out.append(
                    f"{name}: drain ran the handler {run['handler_runs']} times for "
                    f"{n} tasks (duplicate execution)"
                )
        lags = [r.get("max_producer_lag_ms", 0.0) for r in lat.get("runs", [])]
        if lags and max(lags) > 20:
            out.append(
                f"{name}: the producer fell up to {max(lags):,.0f} ms behind the open-loop "
                "schedule (slow enqueue calls); latency still counts from just before "
                "each enqueue"
            )
    return out


def queue_table(results: Result, markdown: bool) -> str:
    systems = results.get("systems", {})
    ran = {wl for s in systems.values() for wl in s.get("workloads", {})}
    columns = [c for c in QUEUE_COLUMNS if c[1] in ran] or QUEUE_COLUMNS
    headers = ["system", *(c[0] for c in columns)]
    rows = [
        [name, *(_cell(s.get("workloads", {}).get(wl), key, fmt) for _, wl, key, _, fmt in columns)]
        for name, s in systems.items()
    ]
    return _table(headers, rows, markdown)


def http_table(results: Result, markdown: bool) -> str:
    targets = results.get("http", {}).get("targets", {})
    headers = ["target", *(c[0] for c in HTTP_COLUMNS)]
    rows = [
        [name, *(_cell(t, key, fmt) for _, key, _, fmt in HTTP_COLUMNS)]
        for name, t in targets.items()
    ]
    return _table(headers, rows, markdown)


def sqlite_table(results: Result, markdown: bool) -> str:
    rows = [
        [key, e["synchronous"], f"{e['rows_per_txn']:,}", _cell(e, "rows_per_s", "{:,.0f}")]
        for key, e in results.get("sqlite", {}).items()
    ]
    return _table(["sqlite ceiling", "synchronous", "rows/txn", "rows/s"], rows, markdown)


def _ratio(value: float | None, other: float | None, higher_better: bool) -> str:
    if value is None or other is None or other == 0:
        return "n/a"
    r = value / other
    better = (r >= 1) if higher_better else (r <= 1)
    return f"{r:.2f}x ({'better' if better else 'worse'})"


def ratios(results: Result) -> list[str]:
    """taskq's figures against the best peer and against its ceiling."""
    systems = results.get("systems", {})
    peers = {n: s for n, s in systems.items() if n not in TASKQ_ROWS}
    sqlite = results.get("sqlite", {})
    http = results.get("http", {}).get("targets", {})
    ceilings = {
        "enqueue": (
            "SQLite 1 row/txn, synchronous=FULL",
            _median(sqlite.get("one_per_txn_full"), "rows_per_s"),
        ),
        "bulk": (
            "SQLite 1,000 rows/txn, synchronous=FULL",
            _median(sqlite.get("batch_1000_full"), "rows_per_s"),
        ),
    }
    lines: list[str] = []
    for row in TASKQ_ROWS:
        mine = systems.get(row, {}).get("workloads", {})
        for title, wl, key, higher, fmt in QUEUE_COLUMNS:
            value = _median(mine.get(wl), key)
            if value is None:
                continue
            candidates = [
                (n, v)
                for n, s in peers.items()
                if (v := _median(s.get("workloads", {}).get(wl), key)) is not None
            ]
            line = f"{row} {title} = {fmt.format(value)}"
            if candidates:
                best = (max if higher else min)(candidates, key=lambda c: c[1])
                line += (
                    f"; vs best peer {best[0]} ({fmt.format(best[1])}): "
                    f"{_ratio(value, best[1], higher)}"
                )
            ceiling = ceilings.get(wl) if row != "taskq-pg" else None
            if ceiling and ceiling[1] is not None:
                line += (
                    f"; vs ceiling {ceiling[0]} ({fmt.format(ceiling[1])}): "
                    f"{_ratio(value, ceiling[1], higher)}"
                )
            elif ceiling:
                line += f"; ceiling {ceiling[0]}: not measured in this run"
            else:
                line += "; ceiling: none defined for this workload"
            lines.append(line)
    for target in ("taskq-api-alone", "taskq-api", "taskq-run"):
        value = _median(http.get(target), "req_per_s")
        if value is None:
            continue
        parts = [f"{target} HTTP req/s = {value:,.0f}"]
        for other in ("stack", "starlette-noop", "fastapi-noop"):
            o = _median(http.get(other), "req_per_s")
            if o is not None:
                kind = "peer" if other == "stack" else "ceiling"
                parts.append(f"vs {kind} {other} ({o:,.0f}): {_ratio(value, o, True)}")
        lines.append("; ".join(parts))
        lines += _against(
            http,
            target,
            "starlette-noop",
            "server_cpu_us",
            "server CPU µs per request",
            higher=False,
        )
        lines += _against(http, target, "stack", "completed_per_s", "completed/s")
    return lines


def _against(
    http: Result, target: str, other: str, key: str, what: str, *, higher: bool = True
) -> list[str]:
    """One line comparing ``target``'s median ``key`` with ``other``'s, if both ran."""
    mine, theirs = _median(http.get(target), key), _median(http.get(other), key)
    if mine is None or theirs is None:
        return []
    return [
        f"{target} {what} = {mine:,.0f}; vs {other} ({theirs:,.0f}): {_ratio(mine, theirs, higher)}"
    ]


def settings_lines(results: Result) -> list[str]:
    lines: list[str] = []
    for name, s in results.get("systems", {}).items():
        if s.get("status") != "ok":
            continue
        lines.append(f"{name}:")
        lines += [f"    {k}: {v}" for k, v in s.get("settings", {}).items()]
        for worker in s.get("workers", []):
            argv = [Path(worker["argv"][0]).name, *worker["argv"][1:]]
            env = "".join(f"{k}={v} " for k, v in worker.get("env", {}).items())
            lines.append(f"    command: {env}{' '.join(argv)}")
        bulk = s.get("bulk_api")
        if bulk and name != "taskq-inproc":
            kind = "one round trip per call" if bulk["batched"] else "loops one send per task"
            lines.append(f"    bulk API: {bulk['call']} ({kind})")
    for name, text in results.get("http", {}).get("settings", {}).items():
        lines.append(f"http {name}: {text}")
    return lines


RSS_RUNS = (("rss", "SQLite"), ("rss_pg", "PostgreSQL"))


def rss_lines(results: Result) -> list[str]:
    lines: list[str] = []
    for key, store in RSS_RUNS:
        r = results.get(key)
        if not r:
            continue
        if r.get("status") != "ok":
            lines.append(f"{key}: FAILED: {r.get('error')}")
            continue
        lines.append(
            f"taskq worker RSS on {store} over {r['tasks']:,} tasks ({r['tasks_per_s']:,.0f} "
            f"tasks/s, 1 process): start {r['start_mib']:.1f} MiB, after 5% "
            f"{r['warm_mib']:.1f} MiB, peak {r['peak_mib']:.1f} MiB, end {r['end_mib']:.1f} MiB"
            f" -> {'FLAT' if r['flat'] else 'GROWING'} (change over the second half of the "
            f"tasks: {r.get('second_half_growth_mib', 0.0):+.2f} MiB)"
        )
    return lines


def _load(values: list[float] | None) -> str:
    return " ".join(f"{v:.2f}" for v in values) if values else "?"


def _meta_lines(meta: Result) -> list[str]:
    sizes = meta.get("sizes", {})
    return [
        f"date {meta.get('date')}  mode {meta.get('mode')}  python {meta.get('python')}  "
        f"cpu {meta.get('cpu_model')} x {meta.get('cpu_cores')} cores  "
        f"memory {meta.get('memory_gib')} GiB  load average at start "
        f"{_load(meta.get('loadavg_at_start'))}, at end {_load(meta.get('loadavg_at_end'))}",
        f"N={sizes.get('n')}, reps={sizes.get('reps')}, latency: {sizes.get('latency_tasks')} "
        f"tasks/rep at 200/s, wrk {sizes.get('wrk_seconds')} s, RSS {sizes.get('rss_tasks')} tasks",
        "versions: " + ", ".join(f"{k} {v}" for k, v in meta.get("versions", {}).items()),
        "services: " + ", ".join(f"{k} {v}" for k, v in meta.get("services", {}).items()),
    ]


def _sections(results: Result, markdown: bool) -> list[tuple[str, str]]:
    def block(lines: list[str]) -> str:
        text = "\n".join(lines)
        return f"```\n{text}\n```" if markdown else text

    out = [("Run", block(_meta_lines(results.get("meta", {}))))]
    if results.get("systems"):
        out.append(
            (
                "Queue systems (median [min-max]; 2 worker processes each)",
                queue_table(results, markdown),
            )
        )
    if results.get("sqlite"):
        out.append(
            ("SQLite ceilings (taskq's schema and PRAGMAs)", sqlite_table(results, markdown))
        )
    if results.get("http"):
        out.append(("HTTP under wrk (64 connections)", http_table(results, markdown)))
    if results.get("rss") or results.get("rss_pg"):
        out.append(("taskq worker memory", block(rss_lines(results))))
    if lines := ratios(results):
        out.append(
            (
                "taskq vs best peer and ceiling (throughput: >1 better; latency: <1 better)",
                block(lines),
            )
        )
    if lines := notes(results):
        out.append(("Notes", block(lines)))
    if lines := _failures(results):
        out.append(("Failed / n/a", block(lines)))
    out.append(("Exact settings", block(settings_lines(results))))
    return out


def render_terminal(results: Result) -> str:
    return "\n\n".join(f"== {title}\n{body}" for title, body in _sections(results, False))


def render_markdown(results: Result) -> str:
    head = (
        "# taskq benchmark results\n\nGenerated by `benchmarks/run`; see "
        "`benchmarks/README.md` for what each workload measures.\n"
    )
    body = "\n\n".join(f"## {title}\n\n{text}" for title, text in _sections(results, True))
    return f"{head}\n{body}\n\n![plots](latest.png)\n"


def _bars(
    ax: Any, names: list[str], stats: list[Result | None], title: str, log: bool = False
) -> None:
    shown = [(n, s) for n, s in zip(names, stats, strict=True) if s]
    if not shown:
        ax.set_visible(False)
        return
    labels = [n for n, _ in shown]
    med = [s["median"] for _, s in shown]
    err = [
        [m - s["min"] for m, (_, s) in zip(med, shown, strict=True)],
        [s["max"] - m for m, (_, s) in zip(med, shown, strict=True)],
    ]
    colors = ["tab:red" if n.startswith("taskq") else "tab:blue" for n in labels]
    ax.bar(labels, med, yerr=err, color=colors, capsize=3)
    ax.set_title(title, fontsize=10)
    ax.tick_params(axis="x", labelrotation=45, labelsize=8)
    if log:
        ax.set_yscale("log")


def write_plot(results: Result, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    systems = results.get("systems", {})
    fig, axes = plt.subplots(3, 3, figsize=(16, 13))
    flat = list(axes.flat)

    def stat(name: str, wl: str, key: str) -> Result | None:
        e = systems[name].get("workloads", {}).get(wl)
        return dict(e[key]) if e and e.get("status") == "ok" and key in e else None

    names = list(systems)
    panels: list[tuple[str, str, str, bool]] = [
        ("enqueue", "tasks_per_s", "1. enqueue, one call per task (tasks/s)", False),
        ("bulk", "tasks_per_s", "2. bulk enqueue, 1,000 per call (tasks/s)", False),
        ("drain", "tasks_per_s", "3. drain with 2 worker processes (tasks/s)", False),
        ("latency", "p50_ms", "4. enqueue->start p50 at 200/s (ms, log)", True),
        ("latency", "p99_ms", "4. enqueue->start p99 at 200/s (ms, log)", True),
    ]
    for ax, (wl, key, title, log) in zip(flat, panels, strict=False):
        _bars(ax, names, [stat(n, wl, key) for n in names], title, log)
    targets = results.get("http", {}).get("targets", {})
    tnames = list(targets)

    def tstat(name: str, key: str) -> Result | None:
        t = targets[name]
        return dict(t[key]) if t.get("status") == "ok" and key in t else None

    _bars(flat[5], tnames, [tstat(n, "req_per_s") for n in tnames], "5/6. HTTP req/s under wrk")
    _bars(
        flat[6],
        tnames,
        [tstat(n, "completed_per_s") for n in tnames],
        "5/6. HTTP tasks completed/s (until all done)",
    )
    sqlite = results.get("sqlite", {})
    _bars(
        flat[7],
        list(sqlite),
        [e.get("rows_per_s") for e in sqlite.values()],
        "SQLite insert ceilings (rows/s, log)",
        log=True,
    )
    ax = flat[8]
    runs = [
        (store, results[key])
        for key, store in RSS_RUNS
        if results.get(key, {}).get("status") == "ok"
    ]
    for (store, run), color in zip(runs, ("tab:red", "tab:purple"), strict=False):
        ax.plot(
            [s["done"] for s in run["samples"]],
            [s["rss_mib"] for s in run["samples"]],
            color=color,
            label=store,
        )
    if runs:
        ax.set_title(f"7. taskq worker RSS (MiB) over {runs[0][1]['tasks']:,} tasks", fontsize=10)
        ax.set_xlabel("tasks completed")
        ax.legend(fontsize=8)
        top = max(s["rss_mib"] for _, run in runs for s in run["samples"])
        ax.set_ylim(bottom=0, top=top * 1.25)
    else:
        ax.set_visible(False)
    meta = results.get("meta", {})
    fig.suptitle(
        f"taskq benchmark ({meta.get('mode')}), {meta.get('date')}, "
        f"{meta.get('cpu_cores')} x {meta.get('cpu_model')}; bars: median, "
        "whiskers: min/max; red = taskq"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write_all(results: Result, out_dir: str) -> list[Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "latest.json", out / "latest.md", out / "latest.png"]
    paths[0].write_text(json.dumps(results, indent=2, default=str) + "\n")
    paths[1].write_text(render_markdown(results))
    try:
        write_plot(results, paths[2])
    except Exception as exc:  # a broken plot must not lose the numbers
        print(f"plot failed: {exc}")
        paths.pop()
    return paths
