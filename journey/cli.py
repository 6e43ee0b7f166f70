"""``python -m journey``: the same functions the pages call, JSON or text out."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import threading
from typing import Any

from . import __version__
from .errors import JourneyError
from .load import load
from .schema import parse_map_option

EXIT_BAD_INPUT = 1


def _add_source_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="FILE", help="event export: CSV/TSV (.gz), Parquet, JSON lines or .xlsx")
    p.add_argument(
        "--map",
        metavar="ROLE=COL,…",
        help="override detected columns, e.g. user=Customer ID,time=Paid at,event=Type "
        "(roles: user, time, event, session, channel, device, revenue, quantity, order, product, "
        "category, page, score)",
    )
    p.add_argument(
        "--date-order", choices=["auto", "dmy", "mdy"], default="auto",
        help="how to read dates like 01/02/2024 (default: decide from the data, day-first if unclear)",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of text")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m journey",
        description="Customer-journey analytics over e-commerce event logs.",
        epilog="A Parquet file or folder is read in place by the analysis commands (nothing copied; "
               "`load` and `report` copy it first).",
    )
    parser.add_argument("--version", action="version", version=f"journey {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("load", help="load a file and print the load report",
                       description="Load FILE and print the load report (rows read, loaded, rejected…).")
    _add_source_args(p)
    p.add_argument("--rejects", metavar="OUT.csv", help="also write the rejected rows to this CSV")

    p = sub.add_parser("overview", help="headline numbers, top events",
                       description="Users, events, sessions, orders, revenue, conversion and top events.")
    _add_source_args(p)
    p.add_argument("--top", type=int, default=10, help="how many top events (default 10)")

    p = sub.add_parser("stages", help="the five-stage journey funnel",
                       description="Users at or beyond awareness, consideration, purchase, retention, advocacy.")
    _add_source_args(p)
    p.add_argument("--stages", metavar="MAP.toml", help="a stage map saved from the app (default: built-in)")
    p.add_argument("--model", choices=["five", "three"], default="five",
                   help="five stages, or the traditional three (awareness, consideration, decision)")
    p.add_argument("--by", metavar="COL", help="break down by a column (its value on the user's first event)")

    p = sub.add_parser("funnel", help="a step funnel of any 2-20 events",
                       description="Conversion through a sequence of events within a window.")
    _add_source_args(p)
    p.add_argument("--steps", required=True, metavar="A,B,C", help="event names, in order, separated by commas")
    p.add_argument("--window", default="7d", help="longest time from the first to the last step: 30m, 12h, 7d, 2w "
                   "(default 7d)")
    p.add_argument("--order", choices=["ordered", "strict", "any"], default="ordered",
                   help="ordered (other events may come between), strict (consecutive), any order")
    p.add_argument("--exclude", metavar="X,Y", help="events that break a chain when they come between its steps")
    p.add_argument("--unit", choices=["users", "sessions"], default="users", help="count users or sessions")
    p.add_argument("--by", metavar="COL", help="break down by a column (its value on the chain's first step)")
    p.add_argument("--trend", choices=["day", "week", "month"], help="conversion per period of the first step")

    p = sub.add_parser("paths", help="the first steps of every path (for a Sankey)",
                       description="Nodes (step, event, users, ends) and links (step, source, target, users).")
    _add_source_args(p)
    p.add_argument("--steps", type=int, default=5, help="steps to follow, 1-10 (default 5)")
    p.add_argument("--top", type=int, default=8, help="events kept per step; the rest become Other (default 8)")
    anchor = p.add_mutually_exclusive_group()
    anchor.add_argument("--from", dest="from_event", metavar="EVENT", help="paths after the first EVENT")
    anchor.add_argument("--to", dest="to_event", metavar="EVENT", help="paths that lead to the first EVENT")
    p.add_argument("--unit", choices=["users", "sessions"], default="users", help="a user's whole stream, or sessions")
    p.add_argument("--keep-repeats", action="store_true", help="do not merge consecutive repeats of an event")
    p.add_argument("--stages", metavar="MAP.toml", help="a stage map (its path cleaning rules apply)")

    p = sub.add_parser("retention", help="cohort retention",
                       description="The share of each cohort active in each later calendar period.")
    _add_source_args(p)
    p.add_argument("--period", choices=["week", "month"], default="month", help="cohort and period length")
    p.add_argument("--start", choices=["first_event", "first_purchase"], default="first_event",
                   help="what puts a customer in a cohort")
    p.add_argument("--return", dest="return_event", default="any", metavar="any|purchase|EVENT",
                   help="what counts as coming back (default: any event)")
    p.add_argument("--cumulative", action="store_true", help="active in period p or later (on or after)")

    p = sub.add_parser("clusters", help="churn clusters of customers",
                       description="KMeans clusters of customers' behaviour, with names and churn rates.")
    _add_source_args(p)
    p.add_argument("--k", type=int, help="number of clusters (default: best silhouette over 2-8)")
    p.add_argument("--churn-days", type=int, help="days without activity that mean churned (default: from the data)")
    p.add_argument("--random-state", type=int, default=0, help="seed, so runs repeat (default 0)")

    p = sub.add_parser("sample", help="write the synthetic sample shop",
                       description="Write the deterministic synthetic shop (CSV, or Parquet by extension).")
    p.add_argument("--users", type=int, default=5000, help="visitors to simulate (default 5000, the shipped sample)")
    p.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    p.add_argument("--out", required=True, metavar="PATH", help="output file (.csv or .parquet)")

    p = sub.add_parser("report", help="the whole journey as one HTML file",
                       description="Overview, five-stage and step funnels, drop-off, the journey-map canvas, "
                                   "retention and churn clusters, as one self-contained HTML file.")
    _add_source_args(p)
    p.add_argument("--out", required=True, metavar="PATH.html", help="where to write the report")
    p.add_argument("--steps", metavar="A,B,C", help="the step funnel (default: the most common path of events)")
    p.add_argument("--window", default="7d", help="the step funnel's window (default 7d)")
    p.add_argument("--stages", metavar="MAP.toml", help="a stage map saved from the app (default: built-in)")
    p.add_argument("--no-clusters", action="store_true", help="leave out the churn clusters (faster)")

    p = sub.add_parser("hash-password", help="hash a team password for JOURNEY_PASSWORD_HASH",
                       description="Read a password (typed, or one line on standard input) and print its salted "
                                   "PBKDF2 hash, for JOURNEY_AUTH=password sign-in.")
    return parser


def _load(args: argparse.Namespace, in_place: bool = True):
    """The command's event log. A Parquet file or folder is read in place (ADR 0013): one command runs
    a few queries, each reading only the columns it needs, so copying the whole file first costs more."""
    return load(args.file, parse_map_option(args.map), date_order=args.date_order, in_place=in_place)


def _emit(args: argparse.Namespace, payload: dict[str, Any], text: str) -> None:
    if args.json:
        json.dump(payload, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(text + "\n")


def cmd_load(args: argparse.Namespace) -> int:
    log = _load(args, in_place=False)  # the whole report: duplicates, rejects and all
    if args.rejects:
        log.rejects().to_csv(args.rejects, index=False)
    _emit(args, log.report.to_dict(), log.report.summary())
    return 0


def cmd_overview(args: argparse.Namespace) -> int:
    from .overview import overview, top_events

    log = _load(args)
    head = overview(log).iloc[0].to_dict()
    head = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in head.items()}
    head = {k: (int(v) if k in ("users", "events", "sessions", "orders", "buyers") else v) for k, v in head.items()}
    top = top_events(log, args.top)
    text = "\n".join(
        [f"{k}: {_text(k, v)}" for k, v in head.items()]
        + ["", "top events:"]
        + [f"  {r.event}: {r.events:,} events, {r.users:,} users" for r in top.itertuples()]
    )
    _emit(args, {**head, "top_events": top.to_dict(orient="records")}, text)
    return 0


def _records(df) -> list[dict]:
    """DataFrame rows as JSON-ready dicts (NaN → null, dates → ISO)."""
    import math

    out = []
    for rec in df.to_dict(orient="records"):
        clean = {}
        for k, v in rec.items():
            if isinstance(v, float) and math.isnan(v):
                v = None
            elif hasattr(v, "isoformat"):
                v = v.isoformat()
            elif hasattr(v, "item"):
                v = v.item()
            clean[k] = v
        out.append(clean)
    return out


def _split(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def cmd_stages(args: argparse.Namespace) -> int:
    from . import format as fmt
    from .stages import StageMap, stage_funnel

    log = _load(args)
    stage_map = StageMap.load(args.stages) if args.stages else None
    keep = ["stage", "users", "own_users", "conversion_from_previous", "conversion_from_start",
            "ci_low", "ci_high", "median_seconds_from_start"]
    df = stage_funnel(log, stage_map, model=args.model)
    payload: dict[str, Any] = {"stages": _records(df[keep])}
    lines = [f"{r.stage:<14} {fmt.count(r.users):>10}  {fmt.percent(r.conversion_from_start):>8}  "
             f"median {fmt.duration(r.median_seconds_from_start)} from first touch" for r in df.itertuples()]
    if args.by:
        grouped = stage_funnel(log, stage_map, model=args.model, by=args.by)
        payload["groups"] = [{"group": g, "stages": _records(part[keep])} for g, part in grouped.groupby("group", sort=False)]
    _emit(args, payload, "\n".join(lines))
    return 0


def cmd_funnel(args: argparse.Namespace) -> int:
    from . import format as fmt
    from .funnel import funnel, funnel_trend

    log = _load(args)
    steps, exclude = _split(args.steps), _split(args.exclude)
    opts = dict(window=args.window, order=args.order, exclude=exclude, unit=args.unit)
    keep = ["step", "users", "conversion_from_previous", "conversion_from_start", "ci_low", "ci_high",
            "median_seconds_to_convert", "p90_seconds_to_convert"]
    df = funnel(log, steps, **opts)
    payload: dict[str, Any] = {"steps": _records(df[keep])}
    lines = [f"{r.step:<24} {fmt.count(r.users):>10}  {fmt.percent(r.conversion_from_start):>8}  "
             f"median {fmt.duration(r.median_seconds_to_convert)}" for r in df.itertuples()]
    if args.trend:
        trend = funnel_trend(log, steps, period=args.trend, **opts)
        payload["trend"] = _records(trend[["period", "users", "converted", "conversion"]])
        lines += ["", f"by {args.trend}:"] + [
            f"  {r.period}  {fmt.count(r.users):>8} started  {fmt.percent(r.conversion):>8} converted"
            for r in trend.itertuples()
        ]
    if args.by:
        grouped = funnel(log, steps, by=args.by, **opts)
        payload["groups"] = [{"group": g, "steps": _records(part[keep])} for g, part in grouped.groupby("group", sort=False)]
    _emit(args, payload, "\n".join(lines))
    return 0


def cmd_paths(args: argparse.Namespace) -> int:
    from . import format as fmt
    from .paths import paths
    from .stages import StageMap

    log = _load(args)
    sm = StageMap.load(args.stages) if args.stages else None
    nodes, links = paths(log, steps=args.steps, top=args.top, from_event=args.from_event, to_event=args.to_event,
                         unit=args.unit, collapse_repeats=not args.keep_repeats,
                         cleaning_rules=sm.cleaning_rules if sm else None)
    lines = [f"step {r.step}: {r.event:<24} {fmt.count(r.users):>10}" + (f"  ({fmt.count(r.ends)} end)" if r.ends else "")
             for r in nodes.itertuples()]
    _emit(args, {"nodes": _records(nodes), "links": _records(links)}, "\n".join(lines))
    return 0


def cmd_retention(args: argparse.Namespace) -> int:
    from . import format as fmt
    from .retention import retention_matrix

    log = _load(args)
    m = retention_matrix(log, period=args.period, start=args.start, cumulative=args.cumulative,
                         return_event=None if args.return_event == "any" else args.return_event)
    cohorts = [{"cohort": label, "size": int(part["size"].iloc[0]), "retention": [float(x) for x in part["retention"]]}
               for label, part in m.groupby("cohort_label", sort=True)]
    lines = [f"{c['cohort']:<11} {fmt.count(c['size']):>8}  " + " ".join(f"{x * 100:5.1f}" for x in c["retention"])
             for c in cohorts]
    _emit(args, {"cohorts": cohorts}, "\n".join(lines))
    return 0


def cmd_clusters(args: argparse.Namespace) -> int:
    from . import format as fmt
    from .churn import ChurnClusters, customer_features, default_churn_days

    log = _load(args)
    days = args.churn_days or default_churn_days(log)["days"]
    features = customer_features(log, churn_days=days)
    model = ChurnClusters(n_clusters=args.k, random_state=args.random_state).fit(features)
    prof = model.profiles_
    clusters = [{"id": int(r.cluster), "name": r.name, "customers": int(r.customers), "churn_rate": float(r.churn_rate),
                 "revenue_share": float(r.revenue_share), "sets_apart": r.sets_apart} for r in prof.itertuples()]
    lines = [f"k = {model.k_}, silhouette {model.silhouette_:.3f}, churned = {days} days without activity"] + [
        f"{c['id']}: {c['name']:<44} {fmt.count(c['customers']):>8} customers, churn {fmt.percent(c['churn_rate'])}, "
        f"revenue {fmt.percent(c['revenue_share'])}" for c in clusters]
    _emit(args, {"k": int(model.k_), "silhouette": float(model.silhouette_), "churn_days": int(days),
                 "clusters": clusters}, "\n".join(lines))
    return 0


def _text(key: str, value: Any) -> str:
    from . import format as fmt

    if isinstance(value, int):
        return fmt.count(value)
    if key.endswith("_rate"):
        return fmt.percent(value)
    if isinstance(value, float):
        return fmt.money(value)
    return str(value)


def cmd_sample(args: argparse.Namespace) -> int:
    from .sample import write

    n = write(args.out, users=args.users, seed=args.seed)
    print(f"wrote {n:,} events for {args.users:,} visitors to {args.out}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from .report import html_report
    from .stages import StageMap

    log = _load(args, in_place=False)  # a dozen analyses: one copy beats reading the file a dozen times
    sm = StageMap.load(args.stages) if args.stages else None
    steps = _split(args.steps) or None
    text = html_report(log, sm, steps=steps, window=args.window, with_clusters=not args.no_clusters)
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"wrote {args.out} ({len(text.encode('utf-8')) / 1024:,.0f} KB)")
    return 0


def cmd_hash_password(args: argparse.Namespace) -> int:
    import getpass

    from .ui.auth import hash_password

    if sys.stdin.isatty():
        password = getpass.getpass("Team password: ")
        if getpass.getpass("Again: ") != password:
            print("error: the two passwords differ", file=sys.stderr)
            return EXIT_BAD_INPUT
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if len(password) < 8:
        print("error: use a password of at least 8 characters", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(hash_password(password))
    return 0


COMMANDS = {"load": cmd_load, "overview": cmd_overview, "stages": cmd_stages, "funnel": cmd_funnel,
            "paths": cmd_paths, "retention": cmd_retention, "clusters": cmd_clusters, "sample": cmd_sample,
            "report": cmd_report, "hash-password": cmd_hash_password}


def _import_pandas_meanwhile() -> None:
    """Start importing pandas on a background thread as the command begins. DuckDB's Python client
    imports pandas at the first bound parameter, which a load reaches within milliseconds, so this
    hides little: 0.3–0.45 s of it stays on the critical path (ADR 0013)."""
    threading.Thread(target=importlib.import_module, args=("pandas",), name="import pandas", daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command not in ("sample", "hash-password"):
        _import_pandas_meanwhile()
    try:
        return COMMANDS[args.command](args)
    except JourneyError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:  # pragma: no cover
        return 130
    except BrokenPipeError:  # the reader (head, less) stopped early
        sys.stderr.close()
        return 0
    except OSError as e:  # an output path (--out, --rejects) that cannot be written; inputs raise LoadError
        where = f"{e.filename}: {e.strerror}" if e.filename else str(e)
        print(f"error: cannot write {where}. Check the folder exists and you may write there.", file=sys.stderr)
        return EXIT_BAD_INPUT
