"""scripts/bench --grow: cost as the store grows (issue 14).

With --grow MAILBOXES,MESSAGES every chosen workload runs twice against the private Cubby: on a
fresh, empty store (its usual row) and on a fresh store first grown by build/bin/cubby-fill
(tools/store_growth.h: the store's own code, many deliveries per index transaction, one syncfs
per batch; not timed) to MAILBOXES mailboxes and MESSAGES deliveries, each message ~4 KiB and
hard-linked into --grow-recipients mailboxes drawn at random (its row is named <workload>+grown).
The workload's own recipients (u0, 2u0, ...) are created first, so they are among the grown
mailboxes and get their share of the old mail: its RCPT lookups and index inserts hit the big
tables.

Figures added for both rows:
  index bytes     the sizes of {configdirectory}/cubby.sqlite, -wal and -shm, before the workload
                  (after the fill and its WAL checkpoint) and after it (the server stopped; the WAL
                  a server leaves is shown apart: it is reused, not grown, as the store grows);
  index/msg       index bytes over the rows of the messages table at that moment (on a small store
                  the schema's fixed pages and the WAL weigh most);
  fill            cubby-fill's time for the messages (mailbox creation apart) and its rate;
  grown/empty     the grown row's deliveries/s over the empty row's (issue 14: >= 0.85).
"""

import contextlib
import json
import os
import sqlite3
import subprocess
import time

SUFFIX = "+grown"
GOAL = 0.85  # issue 14: W2 on the grown store within 15 % of W2 on an empty store


def parse(spec):
    """--grow MAILBOXES,MESSAGES (k and M suffixes allowed: 10k,1M)."""

    def number(text):
        text = text.strip().lower()
        factor = 1
        if text.endswith("k"):
            factor, text = 1000, text[:-1]
        elif text.endswith("m"):
            factor, text = 1000000, text[:-1]
        if not text.isdigit():
            raise ValueError(text)
        return int(text) * factor

    try:
        mailboxes, messages = (number(x) for x in spec.split(","))
    except ValueError:
        raise SystemExit(f"bench: --grow wants MAILBOXES,MESSAGES (e.g. 10000,1000000 or 10k,1M), not {spec!r}")
    return mailboxes, messages


def is_grown(workload):
    return workload.name.endswith(SUFFIX)


def pair(workloads, replace):
    """Each workload, then its grown twin."""
    out = []
    for w in workloads:
        out += [w, replace(w, name=w.name + SUFFIX)]
    return out


def index_figures(lib_dir):
    """(bytes of the SQLite files, of them the WAL's, rows of messages) of the index in `lib_dir`."""
    path = os.path.join(lib_dir, "cubby.sqlite")
    size = sum(os.path.getsize(path + s) for s in ("", "-wal", "-shm") if os.path.exists(path + s))
    wal = os.path.getsize(path + "-wal") if os.path.exists(path + "-wal") else 0
    rows = None
    try:
        # closing(): a connection left open would keep --fs's file system busy at unmount.
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=60)) as db:
            rows = db.execute("SELECT (SELECT count(*) FROM messages) + (SELECT count(*) FROM deliveries)").fetchone()[0]
    except sqlite3.Error:
        pass
    return size, wal, rows


def prepare(instance, workload, args, bin_dir, log):
    """Before the server starts: grows the store when the workload is a +grown one; notes the
    index's figures with --grow. Returns the growth record, or None without --grow."""
    if not getattr(args, "grow_plan", None):
        return None
    growth = {"grown": is_grown(workload)}
    if growth["grown"]:
        mailboxes, messages = args.grow_plan
        command = [os.path.join(bin_dir, "cubby-fill"), "-C", instance.settings, "--mailboxes", str(mailboxes),
                   "--messages", str(messages), "--recipients", str(args.grow_recipients), "--json"]
        log(f"bench: {workload.name}: growing the store: {' '.join(command)}")
        started = time.monotonic()
        out = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
        if out.returncode != 0:
            raise RuntimeError(f"cubby-fill exited {out.returncode} (its messages are above)")
        growth["fill"] = json.loads(out.stdout)
        growth["fill_wall"] = time.monotonic() - started
        log(f"bench: {workload.name}: grown: {out.stdout.strip()}")
    growth["index_before"], growth["wal_before"], growth["rows_before"] = index_figures(os.path.join(instance.dir, "lib"))
    return growth


def finish(growth, instance):
    """After the server stopped: the index's figures again."""
    if growth is not None:
        growth["index_after"], growth["wal_after"], growth["rows_after"] = index_figures(os.path.join(instance.dir, "lib"))


def human(n):
    if n is None:
        return "-"
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if abs(n) >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


def per_row(size, rows):
    return "-" if not rows else f"{size / rows:.0f} B"


def table(results, rate, args):
    """The growth table: one row per result carrying a growth record."""
    header = ["workload", "mailboxes", "index rows", "files", "fill s", "fill msgs/s", "index before", "index/msg",
              "index after", "of it WAL", "index/msg", "deliveries/s", "grown/empty"]
    rows = []
    empty = {r.workload.name: rate(r) for r in results if r.growth and not r.growth["grown"]}
    verdicts = []
    for r in results:
        g = r.growth
        if not g:
            continue
        fill = g.get("fill", {})
        mine = rate(r)
        base = empty.get(r.workload.name[: -len(SUFFIX)]) if g["grown"] else None
        ratio = "-" if not g["grown"] or mine is None or not base else f"{mine / base:.2f}x"
        if g["grown"] and ratio != "-":
            verdicts.append((r.workload.name, mine / base))
        rows.append([
            r.workload.name,
            str(fill.get("mailboxes", "-")),
            "-" if g.get("rows_before") is None else str(g["rows_before"]),
            str(fill.get("files", "-")),
            f"{fill['message_seconds']:.1f}" if fill else "-",
            f"{fill['messages_per_second']:.0f}" if fill else "-",
            human(g.get("index_before")),
            per_row(g.get("index_before"), g.get("rows_before")),
            human(g.get("index_after")),
            human(g.get("wal_after")),
            per_row(g.get("index_after"), g.get("rows_after")),
            "-" if mine is None else f"{mine:.0f}",
            ratio,
        ])
    widths = [max(len(x) for x in column) for column in zip(header, *rows)]
    fmt = lambda cells: "  ".join(c.ljust(n) if i == 0 else c.rjust(n) for i, (c, n) in enumerate(zip(cells, widths)))
    mailboxes, messages = args.grow_plan
    lines = [f"store growth (--grow {mailboxes},{messages}, {args.grow_recipients} recipients per message; "
             "index rows and index/msg before the workload, after the fill; the fill is not timed):",
             fmt(header), fmt(["-" * n for n in widths])] + [fmt(row) for row in rows]
    for name, value in verdicts:
        lines.append(f"  [{'met' if value >= GOAL else 'NOT MET'}] {name} deliveries/s >= {GOAL:.2f}x the empty store's: {value:.2f}x")
    return "\n".join(lines)
