#!/usr/bin/env python3
"""Soak test: mixed load against a private Cubby for a long time, with reloads and worker kills.

What runs, all against one private instance in a temporary directory (settings and services
files of its own, a UNIX socket, a loopback TCP port, duplicate suppression off):
  - W1 loop: smtp-source -L -s 8 -m 400 -l 4096 -r 1 over the UNIX socket, again and again;
  - W2 loop: smtp-source -L -s 4 -m 100 -l 4096 -r 10 over TCP (lmtpd -a), again and again;
  - deliver loop: build/bin/deliver user... < a 2 KiB message, one run after another;
  - every --reload-every seconds SIGHUP to cubby-master (a reload; tolerated when the master only
    logs that reloading is not implemented), checking that the master is still alive;
  - every --kill-every seconds kill -9 of a random lmtpd.
Every --interval seconds it prints one line: deliveries/s in that interval (from the index, via
`cubbyctl stats --json`), client runs and failures, the number of workers, the largest worker
VmRSS and descriptor count, the longest-lived worker's and the master's VmRSS and descriptors,
kills and reloads so far.
At the end: the load is stopped, the store settles, `cubbyctl check` must exit 0, and the leak
verdict compares the master's and the longest-lived worker's memory and descriptors between the
first and the last interval (for the worker, descriptors other than connections and stage files
awaiting their checkpoint, which come and go). Exit status 0 when the check passed and nothing
leaked.
"""
import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SMTP_SOURCE = shutil.which("smtp-source") or "/usr/sbin/smtp-source"


def log(text):
    print(text, flush=True)


def proc_status(pid, field):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def fd_count(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def fd_kinds(pid):
    """(sockets, stage files, other) among the open descriptors of pid."""
    sockets = stage = other = 0
    try:
        names = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return None
    for n in names:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{n}")
        except OSError:
            continue
        if target.startswith("socket:"):
            sockets += 1
        elif "/stage./" in target:
            stage += 1
        else:
            other += 1
    return sockets, stage, other


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def start_time(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def catches_sighup(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) & (1 << (signal.SIGHUP - 1)))
    except OSError:
        pass
    return False


class Instance:
    def __init__(self, directory, bin_dir, tcp_port):
        self.dir = directory
        self.bin = bin_dir
        self.settings = os.path.join(directory, "imapd.conf")
        self.services = os.path.join(directory, "cyrus.conf")
        self.socket = os.path.join(directory, "socket", "lmtp")
        self.pidfile = os.path.join(directory, "master.pid")
        self.logfile = os.path.join(directory, "master.log")
        self.tcp = f"127.0.0.1:{tcp_port}"
        for sub in ("lib", "spool", "socket"):
            os.makedirs(os.path.join(directory, sub), exist_ok=True)
        with open(self.settings, "w") as f:
            f.write(f"configdirectory: {directory}/lib\npartition-default: {directory}/spool\n"
                    f"servername: soak.localhost\nlmtpsocket: {self.socket}\n"
                    "duplicatesuppression: no\n")
        with open(self.services, "w") as f:
            f.write("SERVICES {\n"
                    f'  lmtpunix cmd="lmtpd" listen="{self.socket}" prefork=2\n'
                    f'  lmtp     cmd="lmtpd -a" listen="{self.tcp}" prefork=1\n'
                    "}\n")
        self.process = None
        self.master = None

    def ctl(self, *args, check=True):
        r = subprocess.run([os.path.join(self.bin, "cubbyctl"), "-C", self.settings, *args],
                           capture_output=True, text=True, timeout=600)
        if check and r.returncode != 0:
            raise RuntimeError(f"cubbyctl {' '.join(args)}: exit {r.returncode}: {r.stderr.strip()}")
        return r

    def start(self):
        with open(self.logfile, "ab") as logf:
            self.process = subprocess.Popen(
                [os.path.join(self.bin, "cubby-master"), "-C", self.settings, "-M", self.services,
                 "-D", "-p", self.pidfile], stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                start_new_session=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"cubby-master exited; see {self.logfile}")
            if os.path.exists(self.pidfile) and os.path.exists(self.socket):
                self.master = self.process.pid
                return
            time.sleep(0.1)
        raise RuntimeError("cubby-master did not start in 20 s")

    def workers(self):
        return [p for p in children(self.master) if comm(p) == "lmtpd"]

    def stop(self):
        if not self.process:
            return
        pids = [self.master] + children(self.master)
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            for p in pids:
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.process.wait()
        self.process = None

    def deliveries(self):
        r = self.ctl("stats", "--json", check=False)
        if r.returncode != 0:
            return None  # not a count of zero: the interval is reported as unknown
        try:
            data = json.loads(r.stdout)
        except json.JSONDecodeError:
            return None
        rows = data if isinstance(data, list) else data.get("partitions", [data])
        for row in rows:
            if isinstance(row, dict) and row.get("partition") == "total":
                return row.get("messages")
        return sum(row.get("messages", 0) for row in rows if isinstance(row, dict))


class Loop(threading.Thread):
    """Runs `command` (stdin from `stdin_path`) again and again until stopped."""

    def __init__(self, name, command, stdin_path=None, ok_codes=(0,)):
        super().__init__(daemon=True)
        self.name, self.command, self.stdin_path, self.ok_codes = name, command, stdin_path, ok_codes
        self.runs = self.failures = 0
        self.last_failure = ""
        self.stop_flag = threading.Event()
        self.lock = threading.Lock()

    def run(self):
        while not self.stop_flag.is_set():
            stdin = open(self.stdin_path, "rb") if self.stdin_path else subprocess.DEVNULL
            try:
                r = subprocess.run(self.command, stdin=stdin, capture_output=True, timeout=300)
                code, detail = r.returncode, (r.stderr or r.stdout).decode(errors="replace").strip()
            except subprocess.TimeoutExpired:
                code, detail = -1, "timed out after 300 s"
            finally:
                if self.stdin_path:
                    stdin.close()
            with self.lock:
                self.runs += 1
                if code not in self.ok_codes:
                    self.failures += 1
                    self.last_failure = f"exit {code}: {detail.splitlines()[-1] if detail else ''}"

    def counts(self):
        with self.lock:
            return self.runs, self.failures


def main():
    p = argparse.ArgumentParser(description="Soak Cubby with mixed load, reloads and worker kills.")
    p.add_argument("--minutes", type=float, default=60, help="how long the load runs (default 60)")
    p.add_argument("--interval", type=float, help="seconds per report line (default 60; 10 when "
                   "--minutes is under 10)")
    p.add_argument("--kill-every", type=float, default=30, help="seconds between kill -9 of a random lmtpd (0: never)")
    p.add_argument("--reload-every", type=float, default=120, help="seconds between SIGHUPs to the master (0: never)")
    p.add_argument("--bin", default=os.path.join(ROOT, "build", "bin"), help="where the programs are")
    p.add_argument("--dir", help="work directory (default: a new one under /tmp, removed unless --keep)")
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    p.add_argument("--seed", type=int, default=1, help="random seed for the kills")
    args = p.parse_args()
    interval = args.interval or (10 if args.minutes < 10 else 60)
    rng = random.Random(args.seed)
    if not os.path.exists(SMTP_SOURCE):
        raise SystemExit("soak: smtp-source not found (postfix package; scripts/install-deps)")

    directory = args.dir or tempfile.mkdtemp(prefix="cubby-soak-")
    os.makedirs(directory, exist_ok=True)
    port = free_port()
    inst = Instance(directory, args.bin, port)
    users = ["u0"] + [f"{i}u0" for i in range(2, 11)] + ["alice", "bob"]
    for u in users:
        inst.ctl("mailbox", "create", f"user/{u}")
    message = os.path.join(directory, "message.eml")
    with open(message, "w") as f:
        f.write("From: soak@example.org\nSubject: soak\n\n" + ("x" * 70 + "\n") * 28)
    inst.start()
    log(f"soak: {args.minutes:g} min in {directory}; master {inst.master}; {inst.tcp} and {inst.socket}")
    hup_handled = catches_sighup(inst.master)
    if args.reload_every and not hup_handled:
        log("soak: cubby-master does not catch SIGHUP; reloads skipped")

    loops = [
        Loop("W1", [SMTP_SOURCE, "-L", "-s", "8", "-m", "400", "-l", "4096", "-r", "1", "-t",
                    "u0@soak.localhost", "-f", "sender@example.org", "unix:" + inst.socket]),
        Loop("W2", [SMTP_SOURCE, "-L", "-s", "4", "-m", "100", "-l", "4096", "-r", "10", "-t",
                    "u0@soak.localhost", "-f", "sender@example.org", inst.tcp]),
        # deliver: 75 (EX_TEMPFAIL) is what a client sees when its worker was just killed.
        Loop("deliver", [os.path.join(args.bin, "deliver"), "-C", inst.settings, "alice", "bob"],
             stdin_path=message, ok_codes=(0,)),
    ]
    for loop in loops:
        loop.start()

    start = time.monotonic()
    end = start + args.minutes * 60
    next_kill = start + args.kill_every if args.kill_every else float("inf")
    next_reload = start + args.reload_every if args.reload_every else float("inf")
    kills = reloads = 0
    rows = []
    last_deliveries, last_t = inst.deliveries() or 0, start
    rate_t = start
    header = (f"{'t(s)':>6} {'deliv/s':>8} {'total':>8} {'W1 runs/fail':>12} {'W2 runs/fail':>12} "
              f"{'deliver ok/fail':>15} {'workers':>7} {'max RSS KiB':>11} {'max fds':>7} "
              f"{'oldest':>14} {'master RSS/fds':>14} {'kills':>5} {'HUPs':>4}")
    log(header)
    master_alive = True
    while time.monotonic() < end:
        t_next = min(end, last_t + interval, next_kill, next_reload)
        time.sleep(max(0.0, t_next - time.monotonic()))
        now = time.monotonic()
        if inst.process.poll() is not None:
            master_alive = False
            log(f"soak: cubby-master exited ({inst.process.returncode}); stopping")
            break
        if now >= next_kill:
            workers = inst.workers()
            if workers:
                victim = rng.choice(workers)
                try:
                    os.kill(victim, signal.SIGKILL)
                    kills += 1
                except ProcessLookupError:
                    pass
            next_kill += args.kill_every
        if now >= next_reload:
            if hup_handled:
                os.kill(inst.master, signal.SIGHUP)
                reloads += 1
            next_reload += args.reload_every
        if now >= last_t + interval or now >= end:
            total = inst.deliveries()
            workers = inst.workers()
            rss = [proc_status(w, "VmRSS") or 0 for w in workers]
            fds = [fd_count(w) or 0 for w in workers]
            oldest = min(workers, key=lambda w: start_time(w) or 1 << 62) if workers else None
            row = {
                "t": now - start,
                # Unknown when `cubbyctl stats` failed; the next good count then covers both
                # intervals, measured from the last good one.
                "rate": None if total is None else (total - last_deliveries) / (now - rate_t),
                "total": total or 0,
                "workers": len(workers),
                "max_rss": max(rss, default=0),
                "max_fds": max(fds, default=0),
                "oldest": oldest,
                "oldest_rss": proc_status(oldest, "VmRSS") if oldest else None,
                "oldest_fds": fd_count(oldest) if oldest else None,
                "oldest_kinds": fd_kinds(oldest) if oldest else None,
                "master_rss": proc_status(inst.master, "VmRSS"),
                "master_fds": fd_count(inst.master),
            }
            rows.append(row)
            c = [loop.counts() for loop in loops]
            rate = "?" if row["rate"] is None else f"{row['rate']:.1f}"
            log(f"{row['t']:6.0f} {rate:>8} {row['total']:8d} {c[0][0]:>6}/{c[0][1]:<5} "
                f"{c[1][0]:>6}/{c[1][1]:<5} {c[2][0] - c[2][1]:>8}/{c[2][1]:<6} {row['workers']:7d} "
                f"{row['max_rss']:11d} {row['max_fds']:7d} "
                f"{str(row['oldest_rss']) + '/' + str(row['oldest_fds']):>14} "
                f"{str(row['master_rss']) + '/' + str(row['master_fds']):>14} {kills:5d} {reloads:4d}")
            last_t = now
            if total is not None:
                last_deliveries, rate_t = total, now

    for loop in loops:
        loop.stop_flag.set()
    for loop in loops:
        loop.join(timeout=320)
    time.sleep(3)  # the last checkpoint
    verdict_ok = master_alive
    check = inst.ctl("check", check=False)
    total = inst.deliveries()
    inst.stop()

    log("")
    log(f"soak: ran {time.monotonic() - start:.0f} s; {total} deliveries in the index; "
        f"{kills} workers killed; {reloads} SIGHUPs{'' if hup_handled else ' (not caught: skipped)'}")
    for loop in loops:
        runs, failures = loop.counts()
        log(f"soak: {loop.name}: {runs} runs, {failures} failed" +
            (f" (last: {loop.last_failure})" if failures else ""))
    hup_lines = sum(1 for line in open(inst.logfile, errors="replace") if "SIGHUP" in line)
    log(f"soak: master log lines about SIGHUP: {hup_lines}")
    log(f"soak: cubbyctl check: exit {check.returncode}: {(check.stdout + check.stderr).strip()[-400:]}")
    if check.returncode != 0:
        verdict_ok = False
    # Leaks: the master lives throughout; compare first and last interval. Workers are killed and
    # replaced, so the worker seen longest is compared with its own figures when first seen.
    if len(rows) >= 2:
        first, last = rows[0], rows[-1]
        mf, ml = first["master_fds"] or 0, last["master_fds"] or 0
        mr0, mr1 = first["master_rss"] or 0, last["master_rss"] or 0
        log(f"soak: master: fds {mf} -> {ml}, VmRSS {mr0} -> {mr1} KiB")
        if ml > mf + 2 or mr1 > mr0 * 1.5 + 2048:
            log("soak: LEAK? the master grew")
            verdict_ok = False
        # A worker's descriptors go up and down with its connections and with the stage files
        # waiting for the next checkpoint (store_checkpoint_interval); what must not grow is the
        # rest ("other": the index, logs, the listening socket...).
        pids = [r["oldest"] for r in rows if r["oldest"] and r["oldest_kinds"]]
        longest = max(set(pids), key=pids.count) if pids else None
        seen = [r for r in rows if r["oldest"] == longest and r["oldest_kinds"]]
        if len(seen) >= 2:
            a, b = seen[0], seen[-1]
            ka, kb = a["oldest_kinds"], b["oldest_kinds"]
            log(f"soak: longest-lived worker {b['oldest']} over {b['t'] - a['t']:.0f} s: "
                f"descriptors (sockets/stage files/other) {ka[0]}/{ka[1]}/{ka[2]} -> "
                f"{kb[0]}/{kb[1]}/{kb[2]}, VmRSS {a['oldest_rss']} -> {b['oldest_rss']} KiB")
            if kb[2] > ka[2] + 2:
                log("soak: LEAK? the worker's other descriptors grew")
                verdict_ok = False
            if (b["oldest_rss"] or 0) > (a["oldest_rss"] or 0) * 1.5 + 4096:
                log("soak: LEAK? the worker's memory grew")
                verdict_ok = False
        log(f"soak: max worker fds over the run: {max(r['max_fds'] for r in rows)}; "
            f"max worker VmRSS: {max(r['max_rss'] for r in rows)} KiB")
        rates = [r["rate"] for r in rows if r["rate"] is not None]
        if rates:
            log(f"soak: deliveries/s per interval: min {min(rates):.1f}, max {max(rates):.1f}, "
                f"mean {sum(rates) / len(rates):.1f} ({len(rows) - len(rates)} unknown)")
    log(f"soak: {'PASS' if verdict_ok else 'FAIL'}")
    if not args.dir and not args.keep and verdict_ok:
        shutil.rmtree(directory, ignore_errors=True)
    else:
        log(f"soak: work directory kept: {directory}")
    return 0 if verdict_ok else 1


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


if __name__ == "__main__":
    sys.exit(main())
