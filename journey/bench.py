"""``python -m journey.bench``: how fast Journey is on generated shops of 1M, 10M (and 100M) events.

Every measurement runs in a fresh Python process (so peak memory is that step's own), several times;
the table gives the median time and the largest peak resident memory. ClickHouse (chdb) runs the same
4-step funnel on the same Parquet file, and the counts are compared.

Data: the sample shop's generator makes a base log of about 1M events; larger sizes copy it with distinct
user ids, in DuckDB. Files are kept in ``--data`` and reused.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import textwrap
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS4 = ["page_view", "product_view", "add_to_cart", "purchase"]
STEPS8 = ["page_view", "category_view", "product_view", "add_to_cart", "view_cart", "begin_checkout",
          "add_payment_info", "purchase"]
BASE_USERS = 135_000  # about 1M events


def parse_size(text: str) -> int:
    text = text.strip().upper()
    mult = {"K": 1_000, "M": 1_000_000, "G": 1_000_000_000}.get(text[-1], 1)
    return int(float(text[:-1] if text[-1] in "KMG" else text) * mult)


def make_data(events: int, directory: str) -> dict:
    """Parquet and CSV files of about ``events`` events (reused when present)."""
    from .engine import Database, quote_literal

    os.makedirs(directory, exist_ok=True)
    base = os.path.join(directory, "base.parquet")
    if not os.path.exists(base):
        from .sample import write

        write(base, users=BASE_USERS, seed=11)
    label = f"{events // 1_000_000}M" if events >= 1_000_000 else f"{events // 1000}k"
    parquet = os.path.join(directory, f"shop_{label}.parquet")
    csv = os.path.join(directory, f"shop_{label}.csv")
    db = Database()
    n_base = db.scalar("SELECT count(*) FROM read_parquet($p)", {"p": base})
    copies = max(1, round(events / n_base))
    if not os.path.exists(parquet):
        # COPY takes its target as a literal; written under another name first, so a run that is stopped
        # half-way never leaves a file that looks finished
        db.execute(
            f"""COPY (SELECT CASE WHEN k = 0 THEN user_id ELSE user_id || '-' || k END AS user_id,
                             * EXCLUDE (user_id)
                      FROM read_parquet($p), range({copies}) t(k) ORDER BY timestamp, k)
                TO {quote_literal(parquet + '.partial')} (FORMAT parquet, ROW_GROUP_SIZE 1000000)""",
            {"p": base},
        )
        os.replace(parquet + ".partial", parquet)
    if not os.path.exists(csv) and events <= 20_000_000:
        db.execute(f"COPY (SELECT * FROM read_parquet($p)) TO {quote_literal(csv + '.partial')} (HEADER)",
                   {"p": parquet})
        os.replace(csv + ".partial", csv)
    rows = db.scalar("SELECT count(*) FROM read_parquet($p)", {"p": parquet})
    db.close()
    return {"label": label, "parquet": parquet, "csv": csv if os.path.exists(csv) else None, "rows": rows}


def run_child(code: str) -> tuple[float, float, str]:
    """Run Python code in a fresh process; return (seconds, peak RSS in MB, its stdout)."""
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
                            text=True)
    out, err = proc.communicate()
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark step failed:\n{code}\n{err[-2000:]}")
    lines = out.strip().splitlines()
    peak = json.loads(lines[-1])["peak_mb"] if lines and lines[-1].startswith("{") else float("nan")
    return seconds, peak, "\n".join(lines[:-1])


# A process's own peak memory: Linux's VmHWM, the high-water mark of the process's memory since its exec.
# Not getrusage's ru_maxrss: a child keeps across exec the peak of the parent it was forked from (the bench
# after generating 100M events in DuckDB reported 20.3 GB for every step; a five-stage funnel alone: 8.2 GB).
PEAK = """
def peak_mb():
    try:
        with open("/proc/self/status") as f:
            return int(f.read().split("VmHWM:")[1].split()[0]) / 1024
    except (OSError, IndexError, ValueError):  # not Linux
        import resource
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
"""

PRELUDE = """
import json, resource, time, sys
sys.path.insert(0, {root!r})
import journey
""" + PEAK.replace("{", "{{").replace("}", "}}") + """
def done(extra=""):
    print(extra)
    print(json.dumps({{"peak_mb": peak_mb()}}))
"""


def step_code(kind: str, data: dict, steps: list[str] | None = None, extra: str = "", in_place: bool = False) -> str:
    pre = PRELUDE.format(root=ROOT)
    path = data["parquet"]
    load = f"log = journey.load({path!r}, in_place={in_place!r})\nt0 = time.perf_counter()\n"
    bodies = {
        "load_csv": f"t0 = time.perf_counter()\nlog = journey.load({data['csv']!r})\n",
        "load_parquet": f"t0 = time.perf_counter()\nlog = journey.load({path!r})\n",
        "bare_csv": ("import duckdb\nt0 = time.perf_counter()\n"
                     f"duckdb.connect().execute(\"CREATE TABLE t AS SELECT * FROM read_csv('{data['csv']}')\")\n"),
        "bare_parquet": ("import duckdb\nt0 = time.perf_counter()\n"
                         f"duckdb.connect().execute(\"CREATE TABLE t AS SELECT * FROM read_parquet('{path}')\")\n"),
        "stages": load + "journey.stage_funnel(log)\n",
        "funnel": load + f"df = journey.funnel(log, {steps!r}, window='7d'{extra})\n",
        "trend": load + f"journey.funnel_trend(log, {steps!r}, period='week')\n",
        "paths": load + "journey.paths(log, steps=5)\n",
        "transitions": load + "journey.transitions(log)\n",
        "retention": load + "journey.retention_matrix(log, period='week')\n",
        "clusters": load + "r = journey.clusters(log)\n",
    }
    body = bodies[kind]
    report = "df.users.tolist()" if kind == "funnel" else "''"
    return pre + body + f"seconds = time.perf_counter() - t0\ndone(json.dumps({{'seconds': seconds, 'out': str({report})}}))\n"


def inner_seconds(out: str) -> tuple[float, str]:
    rec = json.loads(out.strip().splitlines()[-1])
    return rec["seconds"], rec["out"]


def clickhouse_funnel(data: dict, steps: list[str]) -> str:
    conds = ", ".join(f"event = '{s}'" for s in steps)
    return PEAK + textwrap.dedent(f"""
        import json, resource, time
        import chdb
        t0 = time.perf_counter()
        res = chdb.query('''
            SELECT level, count() FROM (
                SELECT user_id, windowFunnel(604800)(toDateTime(parseDateTimeBestEffort(timestamp)), {conds}) AS level
                FROM file('{data["parquet"]}', Parquet) GROUP BY user_id)
            GROUP BY level ORDER BY level''', 'CSV')
        levels = {{int(a): int(b) for a, b in (line.split(',') for line in str(res).strip().splitlines())}}
        n = {len(steps)}
        counts = [sum(v for k, v in levels.items() if k >= i) for i in range(1, n + 1)]
        print(json.dumps({{'seconds': time.perf_counter() - t0, 'out': str(counts)}}))
        print(json.dumps({{"peak_mb": peak_mb()}}))
    """)


def cli_funnel(data: dict, steps: list[str]) -> str:
    return textwrap.dedent(f"""
        import json, resource, subprocess, sys, time
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, '-m', 'journey', 'funnel', {data['parquet']!r}, '--steps',
                              {','.join(steps)!r}, '--window', '7d', '--json'], capture_output=True, text=True,
                             cwd={ROOT!r}, check=True).stdout
        counts = [s['users'] for s in json.loads(out)['steps']]
        print(json.dumps({{'seconds': time.perf_counter() - t0, 'out': str(counts)}}))
        # the command's own peak: a process forked from this small one keeps only this one's across exec
        print(json.dumps({{"peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}}))
    """)


def app_code(data: dict) -> str:
    """Streamlit's AppTest in a fresh process, the file declared as a team dataset: the first run loads it;
    then the Funnels page opens, the device filter changes, and the same filter is chosen again; then the
    Journey map, the Drop-off and the Retention & churn pages open on their first view, and the device filter
    changes on each."""
    return PEAK + textwrap.dedent(f"""
        import json, os, resource, sys, tempfile, time
        sys.path.insert(0, {ROOT!r})
        folder = tempfile.mkdtemp()
        with open(os.path.join(folder, "journey.toml"), "w") as f:
            f.write("[[dataset]]\\nname = \\"Bench\\"\\nsource = " + json.dumps({os.path.abspath(data['parquet'])!r}) + "\\n")
        os.environ["JOURNEY_CONFIG"] = os.path.join(folder, "journey.toml")
        from streamlit.testing.v1 import AppTest
        at = AppTest.from_file(os.path.join({ROOT!r}, "app.py"), default_timeout=3600)
        times = {{}}
        def timed(name, action):
            t0 = time.perf_counter()
            action()
            times[name] = time.perf_counter() - t0
            assert not at.exception, at.exception
        timed("first run, the team dataset loaded", at.run)
        assert at.session_state["current_dataset"] == "team:Bench", [e.value for e in at.error]
        timed("Funnels page opened", lambda: at.switch_page("pages/funnels.py").run())
        device = lambda: [w for w in at.sidebar.multiselect if w.label == "Device"][0]
        timed("Funnels page after a device filter change", lambda: device().set_value(["mobile"]).run())
        timed("Funnels page, all devices again (cached)", lambda: device().set_value([]).run())
        timed("Funnels page, the same device filter again (cached)", lambda: device().set_value(["mobile"]).run())
        timed("Journey map (paths) opened", lambda: at.switch_page("pages/journey_map.py").run())
        timed("Journey map (paths) after a device filter change", lambda: device().set_value(["desktop"]).run())
        timed("Drop-off (where people leave) opened", lambda: at.switch_page("pages/dropoff.py").run())
        timed("Drop-off (where people leave) after a device filter change",
              lambda: device().set_value(["tablet"]).run())
        timed("Retention & churn (cohorts) opened", lambda: at.switch_page("pages/retention.py").run())
        timed("Retention & churn (cohorts) after a device filter change",
              lambda: device().set_value(["mobile"]).run())
        print(json.dumps({{"seconds": 0, "out": json.dumps(times)}}))
        print(json.dumps({{"peak_mb": peak_mb()}}))
    """)


def app_rows(data: dict) -> list[dict]:
    """One AppTest run (each figure is one interaction, so one run), as rows of the table."""
    mine = measure(app_code(data), 1)
    return [{"size": data["label"], "rows": data["rows"], "step": f"app: {name}", "seconds": seconds,
             "process_seconds": mine["process_seconds"], "peak_mb": mine["peak_mb"], "out": ""}
            for name, seconds in json.loads(mine["out"]).items()]


def full_plan(data: dict) -> list[tuple]:
    """Every step at 1M and 10M: the data loaded (copied) in each fresh process, then the step."""
    plan = []
    if data["csv"]:
        plan += [("load CSV", step_code("load_csv", data), "bare DuckDB read_csv", step_code("bare_csv", data))]
    plan += [("load Parquet", step_code("load_parquet", data), "bare DuckDB read_parquet",
              step_code("bare_parquet", data)),
             ("five-stage funnel", step_code("stages", data), None, None),
             ("4-step funnel, ordered, 7 d", step_code("funnel", data, STEPS4), None, None),
             ("8-step funnel, ordered, 7 d", step_code("funnel", data, STEPS8), None, None),
             ("4-step funnel, strict", step_code("funnel", data, STEPS4, ", order='strict'"), None, None),
             ("4-step funnel, any order", step_code("funnel", data, STEPS4, ", order='any'"), None, None),
             ("4-step funnel by device", step_code("funnel", data, STEPS4, ", by='device'"), None, None),
             ("4-step funnel, weekly trend", step_code("trend", data, STEPS4), None, None),
             ("4-step funnel, whole CLI process", cli_funnel(data, STEPS4), "ClickHouse windowFunnel (chdb), "
              "whole process", clickhouse_funnel(data, STEPS4)),
             ("4-step funnel, read in place", step_code("funnel", data, STEPS4, in_place=True), None, None),
             ("paths, 5 steps", step_code("paths", data), None, None),
             ("transitions", step_code("transitions", data), None, None),
             ("weekly retention matrix", step_code("retention", data), None, None),
             ("churn features + clusters", step_code("clusters", data), None, None)]
    return plan


def measure(code: str, runs: int) -> dict:
    inner, outer, peaks, out = [], [], [], ""
    for _ in range(runs):
        seconds, peak, printed = run_child(code)
        s, out = inner_seconds(printed)
        inner.append(s)
        outer.append(seconds)
        peaks.append(peak)
    return {"seconds": statistics.median(inner), "process_seconds": statistics.median(outer),
            "peak_mb": max(peaks), "out": out}


# the whole-process comparison with ClickHouse is cheap and this machine's timings swing by a tenth from one
# minute to the next (the memory a fresh process maps is slow or quick to come): both are run in turn, this
# many times each, and compared by their medians
ALTERNATED_UP_TO_20M, ALTERNATED_ABOVE = 9, 3


def measure_alternated(code: str, ref_code: str, runs: int) -> tuple[dict, dict]:
    """:func:`measure` of ``code`` and ``ref_code`` run in turn, ``runs`` times each."""
    mine, ref = [], []
    for _ in range(runs):
        mine.append(measure(code, 1))
        ref.append(measure(ref_code, 1))

    def combined(ms: list[dict]) -> dict:
        return {"seconds": statistics.median(m["seconds"] for m in ms),
                "process_seconds": statistics.median(m["process_seconds"] for m in ms),
                "peak_mb": max(m["peak_mb"] for m in ms), "out": ms[-1]["out"], "runs": runs}

    return combined(mine), combined(ref)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m journey.bench", description=__doc__.splitlines()[0])
    ap.add_argument("--events", default="1M", help="sizes, comma-separated: 1M,10M,100M (default 1M)")
    ap.add_argument("--runs", type=int, default=3, help="runs per measurement; the median is reported (default 3)")
    ap.add_argument("--data", default=os.path.join(ROOT, "bench-data"), help="where generated files are kept")
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "benchmarks.md"), help="the Markdown report")
    args = ap.parse_args(argv)
    results = []
    for size in [parse_size(s) for s in args.events.split(",")]:
        data = make_data(size, args.data)
        runs = args.runs if data["rows"] <= 5_000_000 else 1  # a 10M+ step takes minutes: one run each
        print(f"{data['label']}: {data['rows']:,} events", flush=True)
        if data["rows"] > 20_000_000:
            # 100M: nothing is copied (a load is many minutes here); each analysis reads the Parquet file
            # in place in a fresh process, as the CLI does
            plan = [("4-step funnel, whole CLI process", cli_funnel(data, STEPS4), "ClickHouse windowFunnel (chdb), "
                     "whole process", clickhouse_funnel(data, STEPS4)),
                    ("five-stage funnel, read in place", step_code("stages", data, in_place=True), None, None),
                    ("4-step funnel, ordered, 7 d, read in place", step_code("funnel", data, STEPS4, in_place=True),
                     None, None),
                    ("8-step funnel, ordered, 7 d, read in place", step_code("funnel", data, STEPS8, in_place=True),
                     None, None),
                    ("weekly retention matrix, read in place", step_code("retention", data, in_place=True), None,
                     None),
                    ("paths, 5 steps, read in place", step_code("paths", data, in_place=True), None, None),
                    ("transitions, read in place", step_code("transitions", data, in_place=True), None, None),
                    ("churn features + clusters, read in place", step_code("clusters", data, in_place=True), None,
                     None)]
        else:
            plan = full_plan(data)
        for name, code, ref_name, ref_code in plan:
            if ref_code and "whole process" in ref_name:
                pairs = ALTERNATED_UP_TO_20M if data["rows"] <= 20_000_000 else ALTERNATED_ABOVE
                mine, ref = measure_alternated(code, ref_code, pairs)
                ref["seconds"] = ref["process_seconds"]  # the child's own wall time, chdb's import included
            else:
                mine = measure(code, runs)
                ref = measure(ref_code, runs) if ref_code else None
            row = {"size": data["label"], "rows": data["rows"], "step": name, **mine}
            if ref_code:
                row.update({"reference": ref_name, "ref_seconds": ref["seconds"], "ref_peak_mb": ref["peak_mb"],
                            "ratio": mine["seconds"] / ref["seconds"] if ref["seconds"] else float("nan"),
                            "counts_equal": (mine["out"] == ref["out"]) if "funnel" in name else None,
                            "ref_out": ref["out"]})
            results.append(row)
            print(f"  {name}: {row['seconds']:.2f} s, {row['peak_mb']:.0f} MB"
                  + (f"  vs {row['reference']}: {row['ref_seconds']:.2f} s (× {row['ratio']:.2f})" if ref_code else ""),
                  flush=True)
        if data["rows"] <= 20_000_000:
            for row in app_rows(data):
                results.append(row)
                print(f"  {row['step']}: {row['seconds']:.2f} s, {row['peak_mb']:.0f} MB", flush=True)
    write_report(results, args.out, args.runs)
    write_plot(results, os.path.join(os.path.dirname(args.out), "img", "benchmarks.svg"))
    print(f"wrote {args.out}")
    return 0


def write_report(results: list[dict], path: str, runs: int) -> None:
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
        machine += f", {mem:.0f} GB memory"
    except (ValueError, OSError):
        pass
    lines = [
        "# Benchmarks", "",
        f"Measured by `make bench` (`python -m journey.bench`) on {machine}, "
        f"{time.strftime('%Y-%m-%d')}. Each figure is " + (f"the median of {runs} runs (one run at 10M and above)" if runs > 1
                                                      else "one run") + ", each in a fresh "
        "process; memory is the largest peak resident set of those runs. Times are the step itself after the "
        "data is loaded, except the load rows and the whole-process rows. The whole-process funnel and "
        f"ClickHouse's are run in turn, {ALTERNATED_UP_TO_20M} times each ({ALTERNATED_ABOVE} above 20M events), "
        "and compared by their medians.", "",
        "| events | step | Journey s | peak MB | reference | reference s | ratio | counts equal |",
        "|---:|---|---:|---:|---|---:|---:|:-:|",
    ]
    for r in results:
        ref = r.get("reference")
        eq = {True: "yes", False: "NO", None: ""}[r.get("counts_equal")]
        lines.append(f"| {r['rows']:,} | {r['step']} | {r['seconds']:.2f} | {r['peak_mb']:.0f} | {ref or ''} | "
                     + (f"{r['ref_seconds']:.2f} | {r['ratio']:.2f} | {eq} |" if ref else " | | |"))
    lines += ["", "![Journey's time per step at each size, and the references (log scale)](img/benchmarks.svg)"]
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


def plot_rows(results: list[dict]) -> list[dict]:
    """One bar per measurement and reference: size, what was timed, by whom, seconds."""
    rows = []
    for r in results:
        rows.append({"events": r["size"], "step": r["step"], "by": "Journey", "seconds": r["seconds"]})
        if r.get("reference"):
            rows.append({"events": r["size"], "step": r["step"], "by": r["reference"].split(" (")[0].split(",")[0],
                         "seconds": r["ref_seconds"]})
    return rows


def write_plot(results: list[dict], path: str) -> None:
    """docs/img/benchmarks.svg: seconds per step (log scale), one panel per size, references beside."""
    import altair as alt
    import pandas as pd

    from .charts import to_svg

    df = pd.DataFrame(plot_rows(results))
    df = df[df["seconds"] > 0]
    sizes = list(dict.fromkeys(df["events"]))
    chart = alt.Chart(df).mark_bar().encode(
        # a log scale has no zero: bars start at 0.05 s
        x=alt.X("seconds:Q", scale=alt.Scale(type="log", domainMin=0.05), title="seconds (log scale)"),
        x2=alt.datum(0.05),
        y=alt.Y("step:N", sort=None, title=None),
        yOffset="by:N",
        color=alt.Color("by:N", title=None, legend=alt.Legend(orient="top")),
        tooltip=["events", "step", "by", alt.Tooltip("seconds:Q", format=".2f")],
    ).properties(width=360).facet(column=alt.Column("events:N", title="events", sort=sizes))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(to_svg(chart))


if __name__ == "__main__":
    sys.exit(main())
