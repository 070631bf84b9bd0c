"""LMTP delivery benchmark behind scripts/bench (run that, not this file).

Drives an LMTP server with Postfix's smtp-source in LMTP mode (-L) and reports, per workload:
messages/s, deliveries/s (messages x recipients), fsync-family calls per message, bytes written per
message, store growth on disk and the peak RSS of one worker. It also checks that every delivery
landed.

Without --target it starts a private Cubby from build/bin on a fresh temporary store for each
workload (its own settings and services files, a UNIX socket, the mailboxes smtp-source addresses),
under strace. With --target it drives an already running server; the server-side figures then need
--pid, and the landed check needs to know the store (automatic for Cubby's scripts/run and for the
reference peers in /work/shared/peers).

--grow (scripts/lib/bench_grow.py) runs each workload also on a store first grown by cubby-fill and
reports the index size per message; --fs (scripts/lib/bench_fs.py) puts the stores on a fresh
journaled ext4, an XFS or a tmpfs made for the run. Their modules say how.

How each figure is measured:
  seconds         wall time of smtp-source (connect to last QUIT).
  fsyncs/msg      fsync, fdatasync, sync_file_range and syncfs calls made by the server's processes
                  from the start of the workload until the server went quiet (own instance: until
                  it stopped, so a flush at shutdown counts), from `strace -f -ttt` (own instance:
                  started under strace with --seccomp-bpf, so untraced calls run at full speed;
                  --target with --pid: strace is attached to the master and all its descendants,
                  which slows every system call, so this is counted in a second, untimed pass).
  written/msg     /proc/<pid>/io write_bytes - cancelled_write_bytes summed over the master and its
                  live descendants (a reaped worker's counts are added to its parent's): bytes the
                  server sent, or will send, to the block layer, counted per dirtied page; includes
                  the index, its journal and any log file the server writes. wchar (bytes passed to
                  write calls) is printed in the details.
  store bytes     growth of `du -s -B1` over the message store (one du invocation, so a hard-linked
                  inode counts once): allocated blocks, metadata files in it included.
  peak RSS        the largest VmHWM among the server's LMTP worker processes (descendants of the
                  master whose name contains "lmtp"), sampled every 250 ms and at the end.
"""

import argparse
import dataclasses
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import bench_fs
import bench_grow

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(ROOT, "build", "bin")  # --bin changes it
USER_CWD = os.environ.get("CUBBY_BENCH_CWD", os.getcwd())
SMTP_SOURCE = shutil.which("smtp-source") or "/usr/sbin/smtp-source"
RECIPIENT = "u0@example.com"
SENDER = "sender@example.com"
SYNC_CALLS = ("fsync", "fdatasync", "sync_file_range", "syncfs")
KIB = 1024
MIB = 1024 * 1024


@dataclasses.dataclass
class Workload:
    name: str
    recipients: int
    size: int
    sessions: int
    messages: int


WORKLOADS = {
    w.name: w
    for w in (
        Workload("W1", 1, 4 * KIB, 8, 2000),
        Workload("W2", 10, 4 * KIB, 8, 1000),
        Workload("W3", 100, 4 * KIB, 4, 200),
        Workload("W4", 10, 1 * MIB, 4, 100),
    )
}


def mailbox_users(recipients):
    """The local parts smtp-source sends with -r N -t u0@...: Nu0, N-1u0, ..., 2u0, u0."""
    return ["u0"] + [f"{i}u0" for i in range(2, recipients + 1)]


def log(text):
    print(text, file=sys.stderr, flush=True)


def user_path(path):
    """A path given on the command line, relative to where scripts/bench was started."""
    return os.path.normpath(os.path.join(USER_CWD, path))


# ---------------------------------------------------------------------------------------------
# Processes, /proc


def read_pid(spec):
    """--pid: a number, or a pidfile (read each time: a reset restarts the server)."""
    if spec.isdigit():
        return int(spec)
    with open(user_path(spec)) as f:
        return int(f.read().split()[0])


def descendants(pid):
    """pid's live descendants (not pid itself), from the ppid field of every /proc/<n>/stat."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # comm may hold spaces and parentheses: the fields after the last ')' are safe.
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def proc_comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def proc_io(pid):
    """(write_bytes - cancelled_write_bytes, wchar) of one process, or (0, 0) if it is gone."""
    try:
        with open(f"/proc/{pid}/io") as f:
            fields = dict(line.split(": ") for line in f.read().splitlines())
    except OSError:
        return 0, 0
    return int(fields["write_bytes"]) - int(fields["cancelled_write_bytes"]), int(fields["wchar"])


def tree_io(master):
    written = wchar = 0
    for pid in [master] + descendants(master):
        w, c = proc_io(pid)
        written += w
        wchar += c
    return written, wchar


def vm_hwm_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class RssSampler:
    """Samples the VmHWM of the master's LMTP workers every 250 ms until stopped."""

    def __init__(self, master):
        self.master = master
        self.peak_kib = 0
        self.workers = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def sample(self):
        for pid in descendants(self.master):
            if "lmtp" in proc_comm(pid):
                self.workers.add(pid)
                self.peak_kib = max(self.peak_kib, vm_hwm_kib(pid))

    def _run(self):
        while not self._stop.wait(0.25):
            self.sample()

    def stop(self):
        self._stop.set()
        self._thread.join()
        self.sample()


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise RuntimeError(f"timed out after {timeout:g} s waiting for {what}")


def accepts(target):
    """True when the LMTP endpoint accepts a connection (the greeting is not awaited)."""
    try:
        if target.startswith("unix:"):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            address = target[len("unix:") :]
        else:
            host, port = target.removeprefix("inet:").rsplit(":", 1)
            s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
            address = (host.strip("[]"), int(port))
        with s:
            s.settimeout(1)
            s.connect(address)
        return True
    except OSError:
        return False


# ---------------------------------------------------------------------------------------------
# Stores: counting what landed and what it takes on disk


@dataclasses.dataclass
class Store:
    kind: str  # "spool": <uid>. files (Cubby, Cyrus); "maildir": files in new/ and cur/ (Dovecot)
    path: str

    def messages(self):
        """(delivered message files, distinct inodes among them)."""
        files, inodes = 0, set()
        uid = re.compile(r"^[0-9]+\.$")
        for directory, _, names in os.walk(self.path):
            if self.kind == "maildir":
                if os.path.basename(directory) not in ("new", "cur"):
                    continue
                chosen = names
            else:
                chosen = [n for n in names if uid.match(n)]
            for name in chosen:
                try:
                    st = os.lstat(os.path.join(directory, name))
                except OSError:
                    continue
                if not os.path.isfile(os.path.join(directory, name)):
                    continue
                files += 1
                inodes.add((st.st_dev, st.st_ino))
        return files, len(inodes)

    def bytes_on_disk(self):
        out = subprocess.run(["du", "-s", "-B1", self.path], capture_output=True, text=True)
        return int(out.stdout.split()[0]) if out.stdout else 0


def parse_store(spec):
    kind, sep, path = spec.partition(":")
    if not sep or kind not in ("spool", "maildir"):
        raise SystemExit(f"bench: --store wants spool:DIR or maildir:DIR, not {spec!r}")
    return Store(kind, user_path(path))


def settings_value(path, key):
    try:
        with open(path) as f:
            for line in f:
                k, sep, v = line.partition(":")
                if sep and k.strip() == key:
                    return v.strip()
    except OSError:
        pass
    return None


def known_store(target):
    """The store behind a target we know: Cubby's scripts/run set-up and the reference peers."""
    run_conf = os.path.join(ROOT, "var", "imapd.conf")
    run_spool = settings_value(run_conf, "partition-default")
    if run_spool and target in (f"unix:{ROOT}/var/socket/lmtp", "127.0.0.1:2424", "inet:127.0.0.1:2424"):
        return Store("spool", run_spool)
    if target.startswith("unix:/tmp/peers/cyrus/") or target.endswith(("127.0.0.1:2403", "127.0.0.1:2413")):
        return Store("spool", "/tmp/peers/cyrus/spool")
    if target.startswith("unix:/tmp/peers/dovecot/") or target.endswith("127.0.0.1:2404"):
        return Store("maildir", "/tmp/peers/dovecot/mail")
    return None


# ---------------------------------------------------------------------------------------------
# strace


class SyncTrace:
    """Counts fsync-family calls in an `strace -f -ttt -o <path>` log from time `since` on."""

    LINE = re.compile(r"^\d+\s+(\d+\.\d+)\s+(" + "|".join(SYNC_CALLS) + r")\(")

    def __init__(self, path):
        self.path = path

    def size(self):
        try:
            return os.path.getsize(self.path)
        except OSError:
            return 0

    def counts(self, since):
        counts = dict.fromkeys(SYNC_CALLS, 0)
        try:
            with open(self.path, errors="replace") as f:
                for line in f:
                    m = self.LINE.match(line)
                    if m and float(m.group(1)) >= since:
                        counts[m.group(2)] += 1
        except OSError:
            pass
        return counts


def strace_command(out, attach=None):
    command = ["strace", "-f", "-qq", "-ttt", "-e", "trace=" + ",".join(SYNC_CALLS), "-o", out]
    if attach is None:
        # Only the traced calls stop the tracee; everything else runs at full speed.
        return command + ["--seccomp-bpf"]
    for pid in attach:
        command += ["-p", str(pid)]
    return command


def wait_quiet(trace, quiet=1.0, limit=10.0):
    """Waits until the trace log has not grown for `quiet` seconds (at most `limit`)."""
    deadline = time.monotonic() + limit
    last, since = trace.size(), time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - since < quiet:
        time.sleep(0.1)
        now = trace.size()
        if now != last:
            last, since = now, time.monotonic()


# ---------------------------------------------------------------------------------------------
# A private Cubby instance


class CubbyInstance:
    """A fresh Cubby store and master in `directory`, optionally started under strace."""

    def __init__(self, directory, users, tcp_port, use_strace):
        self.dir = directory
        self.settings = os.path.join(directory, "imapd.conf")
        self.services = os.path.join(directory, "cyrus.conf")
        self.partition = os.path.join(directory, "spool")
        self.pidfile = os.path.join(directory, "cubby-master.pid")
        self.socket = os.path.join(directory, "socket", "lmtp")
        self.logfile = os.path.join(directory, "master.log")
        self.trace = SyncTrace(os.path.join(directory, "strace.log")) if use_strace else None
        self.target = f"127.0.0.1:{tcp_port}" if tcp_port else f"unix:{self.socket}"
        self.process = None
        self.master = None
        for sub in ("lib", "spool", "socket"):
            os.makedirs(os.path.join(directory, sub), exist_ok=True)
        with open(self.settings, "w") as f:
            f.write(
                "# Cubby settings written by scripts/bench\n"
                f"configdirectory: {directory}/lib\n"
                "defaultpartition: default\n"
                f"partition-default: {self.partition}\n"
                "servername: bench.localhost\n"
                f"lmtpsocket: {self.socket}\n"
                # As the Cyrus peer: smtp-source's messages must not be dropped as duplicates.
                "duplicatesuppression: no\n"
            )
        with open(self.services, "w") as f:
            f.write("# Cubby services written by scripts/bench\nSERVICES {\n")
            f.write(f'  lmtpunix cmd="lmtpd" listen="{self.socket}" prefork=1\n')
            if tcp_port:
                f.write(f'  lmtp     cmd="lmtpd -a" listen="127.0.0.1:{tcp_port}" prefork=1\n')
            f.write("}\n")
        for user in users:
            self.cubbyctl("mailbox", "create", f"user/{user}")

    def cubbyctl(self, *args, check=True):
        command = [os.path.join(BIN, "cubbyctl"), "-C", self.settings, *args]
        result = subprocess.run(command, capture_output=True, text=True)
        if check and result.returncode != 0:
            raise RuntimeError(f"{shlex.join(command)} failed ({result.returncode}): {result.stderr.strip()}")
        return result

    def start(self):
        command = [os.path.join(BIN, "cubby-master"), "-C", self.settings, "-M", self.services, "-D", "-p", self.pidfile]
        if self.trace:
            command = strace_command(self.trace.path) + command
        with open(self.logfile, "ab") as logf:
            self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, start_new_session=True)
        try:
            wait_until(lambda: self.process.poll() is None and os.path.exists(self.pidfile) and accepts(self.target), 15, f"Cubby to listen on {self.target}")
            self.master = read_pid(self.pidfile)
        except RuntimeError:
            self.stop()
            raise RuntimeError(f"Cubby did not start; see {self.logfile}:\n{tail(self.logfile)}")

    def stop(self):
        """SIGTERM to the master; SIGKILL to it and its workers, by pid, if it has not ended in 15 s."""
        if not self.process:
            return
        pids = []
        if self.master:
            pids = [self.master] + descendants(self.master)
            try:
                os.kill(self.master, signal.SIGTERM)
            except ProcessLookupError:
                pass
        else:
            self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            log(f"bench: cubby-master did not stop in 15 s after SIGTERM; killing pids {pids}")
            for pid in pids + [self.process.pid]:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.process.wait()
        self.process = None


def tail(path, lines=15):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


# ---------------------------------------------------------------------------------------------
# One workload


@dataclasses.dataclass
class Result:
    workload: Workload
    messages: int
    seconds: float = 0.0
    landed: int | None = None
    inodes: int | None = None
    syncs: dict | None = None
    written: int | None = None
    wchar: int | None = None
    store_bytes: int | None = None
    peak_rss_kib: int | None = None
    workers: int | None = None
    command: str = ""
    errors: list = dataclasses.field(default_factory=list)
    growth: dict | None = None  # --grow: the fill and the index's size (bench_grow.py)

    @property
    def expected(self):
        return self.messages * self.workload.recipients


def smtp_source_command(w, messages, target, reuse):
    command = [SMTP_SOURCE, "-L", "-s", str(w.sessions), "-m", str(messages), "-l", str(w.size), "-r", str(w.recipients), "-t", RECIPIENT, "-f", SENDER]
    if reuse:
        command.append("-d")
    return command + [target]


def drive(result, command, timeout):
    """Runs smtp-source; returns its wall time."""
    result.command = shlex.join(command)
    log(f"bench: {result.workload.name}: {result.command}")
    started = time.monotonic()
    try:
        out = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        result.errors.append(f"smtp-source did not finish in {timeout} s")
        return time.monotonic() - started
    elapsed = time.monotonic() - started
    if out.returncode != 0:
        detail = (out.stderr or out.stdout).strip().splitlines()
        result.errors.append(f"smtp-source exited {out.returncode}: {' | '.join(detail[-3:])}")
    return elapsed


def run_own(w, messages, args, directory):
    """One workload against a private Cubby on a fresh store in `directory`."""
    result = Result(w, messages)
    instance = CubbyInstance(directory, mailbox_users(w.recipients), args.tcp_port, not args.no_strace)
    store = Store("spool", instance.partition)
    result.growth = bench_grow.prepare(instance, w, args, BIN, log)  # --grow: fills a +grown store
    instance.start()
    since = time.time()
    try:
        landed0, inodes0 = store.messages()  # a +grown store holds messages already
        bytes0 = store.bytes_on_disk()
        io0 = tree_io(instance.master)
        sampler = RssSampler(instance.master)
        since = time.time()  # start-up's sync calls are not the workload's
        result.seconds = drive(result, smtp_source_command(w, messages, instance.target, args.reuse), args.timeout)
        sampler.stop()
        io1 = tree_io(instance.master)
        result.written, result.wchar = io1[0] - io0[0], io1[1] - io0[1]
        result.peak_rss_kib, result.workers = sampler.peak_kib, len(sampler.workers)
    finally:
        instance.stop()
    bench_grow.finish(result.growth, instance)
    if instance.trace:
        result.syncs = instance.trace.counts(since)
    landed, inodes = store.messages()
    result.landed, result.inodes = landed - landed0, inodes - inodes0
    result.store_bytes = store.bytes_on_disk() - bytes0
    check = instance.cubbyctl("check", check=False)
    if check.returncode != 0:
        result.errors.append(f"cubbyctl check exited {check.returncode}: {(check.stdout + check.stderr).strip()[:300]}")
    return result


def prepare_target(args, label):
    """Runs --reset if given, then waits for the target to accept connections."""
    if args.reset:
        log(f"bench: {label}: {args.reset}")
        out = subprocess.run(args.reset, shell=True, stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(f"--reset command exited {out.returncode}: {(out.stderr or out.stdout).strip()[-300:]}")
    wait_until(lambda: accepts(args.target), 30, f"{args.target} to accept connections")


def run_target(w, messages, args, directory):
    """One workload against an already running server (args.target).

    The timed pass runs untraced. With --pid (and without --no-strace) a second, identical pass
    runs with strace attached to the master and its descendants, only to count sync calls: an
    attached strace stops the server at every system call, so its timing means nothing."""
    result = Result(w, messages)
    command = smtp_source_command(w, messages, args.target, args.reuse)
    store = args.store

    prepare_target(args, w.name)
    if store:
        landed0, inodes0 = store.messages()
        bytes0 = store.bytes_on_disk()
    master = read_pid(args.pid) if args.pid else None
    if master:
        io0 = tree_io(master)
        sampler = RssSampler(master)
    try:
        result.seconds = drive(result, command, args.timeout)
    finally:
        if master:
            sampler.stop()
    if master:
        io1 = tree_io(master)
        result.written, result.wchar = io1[0] - io0[0], io1[1] - io0[1]
        result.peak_rss_kib, result.workers = sampler.peak_kib, len(sampler.workers)
    if store:
        landed, inodes = store.messages()
        result.landed, result.inodes = landed - landed0, inodes - inodes0
        result.store_bytes = store.bytes_on_disk() - bytes0

    if not master or args.no_strace or result.errors:
        return result
    if getattr(args, "reset_traced", True):
        prepare_target(args, f"{w.name} traced pass")
    else:  # --compare: the traced pass goes on the store the timed pass used (half the resets)
        wait_until(lambda: accepts(args.target), 30, f"{args.target} to accept connections")
    master = read_pid(args.pid)
    if store:
        landed0, _ = store.messages()
    trace = SyncTrace(os.path.join(directory, "strace.log"))
    pids = [master] + descendants(master)
    tracer = subprocess.Popen(strace_command(trace.path, attach=pids), stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1)  # let strace attach to every pid before the workload starts
        since = time.time()
        traced = Result(w, messages)
        drive(traced, command, args.timeout)
        wait_quiet(trace)
    finally:
        tracer.send_signal(signal.SIGINT)  # detaches from every tracee
        tracer.wait()
    result.errors += [f"traced pass: {e}" for e in traced.errors]
    result.syncs = trace.counts(since)
    if store:
        landed = store.messages()[0] - landed0
        if landed != result.expected:
            result.errors.append(f"traced pass: {landed} of {result.expected} deliveries landed")
    return result


# ---------------------------------------------------------------------------------------------
# Reporting


def human_bytes(n):
    if n is None:
        return "-"
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if abs(n) >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


def details(r):
    w = r.workload
    lines = [f"{w.name}: {r.messages} messages x {w.recipients} recipients, {w.size} bytes, {w.sessions} sessions, {r.seconds:.2f} s"]
    if r.landed is None:
        lines.append("  landed: not checked (unknown store; give --store spool:DIR or maildir:DIR)")
    else:
        verdict = "ok" if r.landed == r.expected else "MISSING DELIVERIES"
        lines.append(f"  landed: {r.landed} of {r.expected} deliveries ({verdict}), {r.inodes} distinct inodes for {r.messages} messages")
    if r.syncs is not None:
        lines.append("  sync calls: " + ", ".join(f"{k} {v}" for k, v in r.syncs.items()))
    if r.written is not None:
        lines.append(f"  written: {r.written} bytes to storage (write_bytes), {r.wchar} bytes through write calls (wchar)")
    if r.workers is not None:
        lines.append(f"  workers seen: {r.workers}, peak VmHWM of one: {r.peak_rss_kib} KiB")
    if r.store_bytes is not None:
        lines.append(f"  store growth: {r.store_bytes} bytes (du -s -B1)")
    lines += [f"  ERROR: {e}" for e in r.errors]
    return "\n".join(lines)


def table(results):
    header = ["workload", "msgs", "rcpts", "seconds", "msgs/s", "deliveries/s", "fsyncs/msg", "written/msg", "store bytes", "peak RSS"]
    rows = []
    for r in results:
        w = r.workload
        ok = not r.errors and (r.landed is None or r.landed == r.expected)
        per_msg = lambda v: "-" if v is None else v / r.messages
        syncs = None if r.syncs is None else sum(r.syncs.values())
        rows.append([
            w.name + ("" if ok else " FAILED"),
            str(r.messages),
            str(w.recipients),
            f"{r.seconds:.2f}",
            f"{r.messages / r.seconds:.0f}" if r.seconds else "-",
            f"{r.expected / r.seconds:.0f}" if r.seconds else "-",
            "-" if syncs is None else f"{per_msg(syncs):.2f}",
            "-" if r.written is None else human_bytes(int(per_msg(r.written))),
            human_bytes(r.store_bytes),
            "-" if r.peak_rss_kib is None else human_bytes(r.peak_rss_kib * 1024),
        ])
    widths = [max(len(x) for x in column) for column in zip(header, *rows)]
    fmt = lambda cells: "  ".join(c.ljust(n) if i == 0 else c.rjust(n) for i, (c, n) in enumerate(zip(cells, widths)))
    return "\n".join([fmt(header), fmt(["-" * n for n in widths])] + [fmt(row) for row in rows])


def provenance(args):
    argv0 = os.environ.get("CUBBY_BENCH_ARGV0", "scripts/bench")
    lines = [f"command: (cd {shlex.quote(USER_CWD)} && {shlex.join([argv0] + sys.argv[1:])})"]
    if args.target:
        lines.append(f"target: {args.target}" + (f", server pid from {args.pid}" if args.pid else ", no server pid (no strace, I/O or RSS figures)"))
    else:
        git = lambda *a: subprocess.run(["git", "-C", ROOT, *a], capture_output=True, text=True).stdout.strip()
        commit = git("rev-parse", "--short", "HEAD") or "unknown"
        dirty = "+uncommitted changes" if git("status", "--porcelain", "--untracked-files=no") else ""
        build_type = "?"
        try:
            with open(os.path.join(ROOT, "build", "CMakeCache.txt")) as f:
                build_type = next((l.split("=", 1)[1].strip() for l in f if l.startswith("CMAKE_BUILD_TYPE:")), "?")
        except OSError:
            pass
        built = f"source at {commit}{dirty}, {build_type}" if not args.bin else "programs from --bin"
        lines.append(f"cubby: {BIN} ({built}); fresh store per workload")
    if getattr(args, "fs_description", None):
        lines.append(f"stores: {args.fs_description}")
    version = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "postfix"], capture_output=True, text=True).stdout
    lines.append(f"driver: smtp-source (postfix {version or '?'}) -L{' -d' if args.reuse else ''}; "
                 f"machine: {os.cpu_count()} CPUs, {os.uname().release}")
    if not args.no_strace and (args.pid or not args.target):
        lines.append("note: " + ("fsyncs/msg come from a second, traced pass (strace attached); the timed pass ran untraced"
                                 if args.target else "the server ran under strace --seccomp-bpf (only sync calls stop it) during the timed run"))
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# --compare: Cubby, the reference peers and smtp-sink, one after another in one run

PEERS = "/work/shared/peers"
SMTP_SINK = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
SWEEP = (1, 4, 16, 64)  # sessions of the W2 concurrency sweep
# (server label, target, master pidfile, reset command, store)
PEER_SERVERS = (
    ("cyrus", "unix:/tmp/peers/cyrus/socket/lmtp", "/tmp/peers/cyrus/run/master.pid", f"{PEERS}/cyrus.sh reset", Store("spool", "/tmp/peers/cyrus/spool")),
    ("dovecot", "unix:/tmp/peers/dovecot/lmtp", "/tmp/peers/dovecot/run/master.pid", f"{PEERS}/dovecot.sh reset", Store("maildir", "/tmp/peers/dovecot/mail")),
)
RSS_LIMIT_KIB = 64 * 1024


def compare_workloads(names):
    """The chosen workloads, then the W2 sweep over SWEEP sessions (named W2/sN)."""
    chosen = [WORKLOADS[n] for n in names]
    base = WORKLOADS["W2"]
    chosen += [dataclasses.replace(base, name=f"W2/s{n}", sessions=n) for n in SWEEP]
    return chosen


def peers_ready():
    """Installs the peers once if they are missing (install.sh is idempotent)."""
    if os.access("/usr/sbin/cyrmaster", os.X_OK) and shutil.which("dovecot") and os.access(SMTP_SINK, os.X_OK):
        return
    log(f"bench: installing the reference peers: {PEERS}/install.sh")
    subprocess.run([f"{PEERS}/install.sh"], check=True, stdin=subprocess.DEVNULL)


def run_sink(w, messages, args, directory):
    """One workload against Postfix's smtp-sink (LMTP, stores nothing): the driver's own ceiling."""
    sock = os.path.join(directory, "sink.sock")
    sink = subprocess.Popen([SMTP_SINK, "-L", "-u", "postfix", "-m", "256", f"unix:{sock}", "256"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sub = argparse.Namespace(**vars(args))
    sub.target, sub.pid, sub.reset, sub.store = f"unix:{sock}", None, None, None
    try:
        return run_target(w, messages, sub, directory)
    finally:
        sink.terminate()
        try:
            sink.wait(timeout=10)
        except subprocess.TimeoutExpired:
            sink.kill()
            sink.wait()


def run_peer(peer, w, messages, args, directory):
    label, target, pidfile, reset, store = peer
    sub = argparse.Namespace(**vars(args))
    sub.target, sub.pid, sub.reset, sub.store = target, pidfile, reset, store
    sub.reset_traced = False
    return run_target(w, messages, sub, directory)


def ok(r):
    return r is not None and not r.errors and (r.landed is None or r.landed == r.expected)


def rate(r, deliveries):
    if not ok(r) or not r.seconds:
        return None
    return (r.expected if deliveries else r.messages) / r.seconds


def ratio(a, b):
    return "-" if a is None or not b else f"{a / b:.2f}x"


def compare_table(workloads, servers, results):
    """One row per workload and server; ratios are Cubby's deliveries/s over this row's."""
    header = ["workload", "server", "msgs", "seconds", "msgs/s", "deliveries/s", "fsyncs/msg", "written/msg",
              "store bytes", "peak RSS", "cubby/this", "cubby/best peer"]
    rows = []
    for w in workloads:
        cubby = rate(results.get(("cubby", w.name)), True)
        peer_rates = [rate(results.get((p[0], w.name)), True) for p in PEER_SERVERS]
        best = max([x for x in peer_rates if x is not None], default=None)
        for server in servers:
            r = results.get((server, w.name))
            if r is None:
                continue
            syncs = None if r.syncs is None else sum(r.syncs.values())
            rows.append([
                w.name, server + ("" if ok(r) else " FAILED"), str(r.messages), f"{r.seconds:.2f}",
                "-" if rate(r, False) is None else f"{rate(r, False):.0f}",
                "-" if rate(r, True) is None else f"{rate(r, True):.0f}",
                "-" if syncs is None else f"{syncs / r.messages:.2f}",
                "-" if r.written is None else human_bytes(r.written // r.messages),
                human_bytes(r.store_bytes),
                "-" if r.peak_rss_kib is None else human_bytes(r.peak_rss_kib * 1024),
                "" if server == "cubby" else ratio(cubby, rate(r, True)),
                ratio(cubby, best) if server == "cubby" else "",
            ])
    widths = [max(len(x) for x in column) for column in zip(header, *rows)]
    fmt = lambda cells: "  ".join(c.ljust(n) if i < 2 else c.rjust(n) for i, (c, n) in enumerate(zip(cells, widths))).rstrip()
    return "\n".join([fmt(header), fmt(["-" * n for n in widths])] + [fmt(row) for row in rows])


def goals(results, names):
    """The performance goals of issue 7, each marked met or NOT MET (or not measured)."""
    lines = []

    def best_peer(name, deliveries):
        rates = [rate(results.get((p[0], name)), deliveries) for p in PEER_SERVERS]
        rates = [x for x in rates if x is not None]
        return max(rates) if len(rates) == len(PEER_SERVERS) else None

    def mark(text, met):
        lines.append(f"  [{'met' if met else 'NOT MET' if met is not None else 'not measured'}] {text}")

    for name, deliveries, factor in (("W1", False, 3), ("W2", True, 6), ("W3", True, 20)):
        if name not in names:
            continue
        c, b = rate(results.get(("cubby", name)), deliveries), best_peer(name, deliveries)
        unit = "deliveries/s" if deliveries else "msgs/s"
        got = "-" if c is None or b is None else f"{c:.0f} vs best peer {b:.0f} = {c / b:.2f}x"
        text = f"{name} {unit} >= {factor}x the better peer: {got}"
        met = None if c is None or b is None else c >= factor * b
        if name == "W3":
            r = results.get(("cubby", name))
            syncs = None if not ok(r) or r.syncs is None else sum(r.syncs.values()) / r.messages
            text += f"; fsyncs/msg <= 4: {'-' if syncs is None else f'{syncs:.2f}'}"
            met = None if met is None or syncs is None else met and syncs <= 4
        mark(text, met)
    if "W4" in names:
        r = results.get(("cubby", "W4"))
        c, sink = rate(r, True), rate(results.get(("smtp-sink", "W4")), True)
        one_copy = None if not ok(r) else r.messages * r.workload.size
        store = None if not ok(r) or r.store_bytes is None else r.store_bytes / one_copy
        got = "-" if c is None or not sink else f"{c:.0f} vs smtp-sink {sink:.0f} = {c / sink:.2f}x"
        text = f"W4 deliveries/s >= 0.95x smtp-sink's ceiling: {got}; store bytes <= 1.05x one copy per message: {'-' if store is None else f'{store:.2f}x'}"
        mark(text, None if c is None or not sink or store is None else c >= 0.95 * sink and store <= 1.05)
    peaks = {k[1]: r.peak_rss_kib for k, r in results.items() if k[0] == "cubby" and r.peak_rss_kib is not None}
    worst = max(peaks.values(), default=None)
    text = "Cubby worker peak RSS < 64 MiB in every workload: " + ("-" if worst is None else f"largest {human_bytes(worst * 1024)}")
    mark(text, None if not peaks else worst < RSS_LIMIT_KIB and all(ok(results.get(("cubby", n))) for n in peaks))
    return "\n".join(lines)


def run_compare(args, names, scratch):
    """Every workload against Cubby (own fresh instance), each peer (reset first) and smtp-sink."""
    peers_ready()
    # A SIGTERM (e.g. from timeout) ends the run like ^C: the peers are still stopped.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    workloads = compare_workloads(names)
    servers = ["cubby"] + [p[0] for p in PEER_SERVERS] + ["smtp-sink"]
    results = {}
    try:
        for server in servers:
            for w in workloads:
                messages = max(1, round(w.messages * args.scale))
                directory = os.path.join(scratch, server, w.name.replace("/", "-"))
                os.makedirs(directory)
                log(f"bench: --compare: {server} {w.name}")
                try:
                    if server == "cubby":
                        r = run_own(w, messages, args, directory)
                    elif server == "smtp-sink":
                        r = run_sink(w, messages, args, directory)
                    else:
                        r = run_peer(next(p for p in PEER_SERVERS if p[0] == server), w, messages, args, directory)
                except (RuntimeError, subprocess.CalledProcessError) as e:
                    r = Result(w, messages, errors=[str(e)])
                results[(server, w.name)] = r
                log(f"[{server}] " + details(r))
    except KeyboardInterrupt:
        log("bench: interrupted")
    finally:
        for script in ("cyrus.sh", "dovecot.sh"):
            subprocess.run([f"{PEERS}/{script}", "stop"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    print()
    print(compare_table(workloads, servers, results))
    print()
    print("goals (issue 7):")
    print(goals(results, names))
    print()
    print(provenance(args))
    print(f"peers: Cyrus lmtpd and Dovecot LMTP from {PEERS} (reset before each workload, stopped at the end); "
          "smtp-sink stores nothing: its row is the driver's ceiling; smtp-sink's own figures (fsyncs, I/O, RSS) are not measured")
    failed = [r for r in results.values() if not ok(r)]
    return 1 if failed or len(results) < len(servers) * len(workloads) else 0


# ---------------------------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(
        prog=os.environ.get("CUBBY_BENCH_ARGV0", "scripts/bench"),
        description="Benchmark LMTP delivery with Postfix's smtp-source; see the header of scripts/lib/bench.py for how each figure is measured.",
        epilog="workloads: " + "; ".join(f"{w.name} {w.recipients} rcpt, {human_bytes(w.size)}, {w.sessions} sessions, {w.messages} msgs" for w in WORKLOADS.values()),
    )
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help="comma-separated subset of W1,W2,W3,W4 (default: all)")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every message count (e.g. 0.1 for a quick check)")
    parser.add_argument("--target", help="drive a running server instead: unix:/path or host:port")
    parser.add_argument("--pid", help="with --target: the server's master pid, or its pidfile; enables strace, I/O and RSS figures")
    parser.add_argument("--store", help="with --target: where deliveries land, spool:DIR (<uid>. files: Cubby, Cyrus) or maildir:DIR (Dovecot); known targets are recognised")
    parser.add_argument("--reset", metavar="COMMAND", help="with --target: shell command run before each workload, e.g. '/work/shared/peers/cyrus.sh reset'")
    parser.add_argument("--bin", help="own instance: directory holding cubby-master, lmtpd and cubbyctl (default: build/bin)")
    parser.add_argument("--tcp-port", type=int, default=0, help="own instance: also listen on 127.0.0.1:PORT with lmtpd -a and drive that")
    parser.add_argument("--reuse", action="store_true", help="smtp-source -d: send every message of a session over one connection")
    parser.add_argument("--no-strace", action="store_true", help="do not trace the server (no fsync figure)")
    parser.add_argument("--compare", action="store_true", help="run every workload and a W2 sweep of 1, 4, 16, 64 sessions against Cubby (own instance), "
                        "Cyrus lmtpd and Dovecot LMTP (the peers in /work/shared/peers, reset before each workload) and smtp-sink, then one table with ratios and the goals")
    parser.add_argument("--timeout", type=int, default=900, help="seconds one workload may take (default 900)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (stores, logs, traces)")
    parser.add_argument("--grow", metavar="MAILBOXES,MESSAGES", help="own instance: run each workload on an empty store and again (as <workload>+grown) "
                        "on one first grown by cubby-fill to MAILBOXES mailboxes and MESSAGES deliveries (e.g. 10k,1M); adds the index size per message "
                        "and the grown/empty ratio (scripts/lib/bench_grow.py)")
    parser.add_argument("--grow-recipients", type=int, default=10, metavar="R", help="with --grow: mailboxes each filler message is hard-linked into (default 10, as W2)")
    parser.add_argument("--fs", choices=bench_fs.KINDS, default="root", help="where the stores live: root (a temporary directory on the root file system, the default), "
                        "or a fresh ext4 (journaled) or xfs on a loop device, or a tmpfs, made for the run and removed after it; with --compare the peers' stores too "
                        "(scripts/lib/bench_fs.py)")
    args = parser.parse_args()
    global BIN
    if args.bin:
        BIN = user_path(args.bin)

    names = [n.strip().upper() for n in args.workloads.split(",") if n.strip()]
    unknown = [n for n in names if n not in WORKLOADS]
    if unknown or not names:
        parser.error(f"unknown workload(s) {','.join(unknown)}; choose from {','.join(WORKLOADS)}")
    if not args.target and (args.pid or args.store or args.reset):
        parser.error("--pid, --store and --reset go with --target")
    if args.compare and (args.target or args.tcp_port):
        parser.error("--compare runs its own Cubby and the peers: no --target or --tcp-port")
    if args.target and (args.bin or args.tcp_port):
        parser.error("--bin and --tcp-port are for the private instance, not --target")
    if args.grow and (args.target or args.compare):
        parser.error("--grow grows the private instance's store: no --target or --compare")
    if args.fs != "root" and args.target:
        parser.error("--fs makes the file system of the private instance (and of the peers with --compare): no --target")
    if args.grow_recipients < 1:
        parser.error("--grow-recipients must be at least 1")
    args.grow_plan = bench_grow.parse(args.grow) if args.grow else None
    if args.grow_plan and not os.access(os.path.join(BIN, "cubby-fill"), os.X_OK):
        raise SystemExit(f"bench: cubby-fill not built in {BIN} (--grow needs it)")
    if args.target:
        if args.target.startswith("unix:"):
            args.target = "unix:" + user_path(args.target[len("unix:") :])
        args.store = parse_store(args.store) if args.store else known_store(args.target)
    else:
        missing = [p for p in ("cubby-master", "lmtpd", "cubbyctl") if not os.access(os.path.join(BIN, p), os.X_OK)]
        if missing:
            raise SystemExit(f"bench: {', '.join(missing)} not built in {BIN}")
    if not os.access(SMTP_SOURCE, os.X_OK):
        raise SystemExit("bench: smtp-source not found (it comes with the postfix package; run scripts/install-deps)")
    if os.geteuid() != 0 and (args.pid or not args.target) and not args.no_strace:
        log("bench: not root: strace and /proc/<pid>/io of other users' processes may be refused")

    runs = [WORKLOADS[n] for n in names]
    if args.grow_plan:
        runs = bench_grow.pair(runs, dataclasses.replace)
    if args.fs != "root":
        bench_fs.enter_namespace(os.path.abspath(__file__), sys.argv[1:])
        signal.signal(signal.SIGTERM, signal.default_int_handler)  # the file system is undone
    sized = compare_workloads(names) if args.compare else runs
    scratch = bench_fs.open_scratch(
        args.fs, [(max(1, round(w.messages * args.scale)), w.size, w.recipients, bench_grow.is_grown(w)) for w in sized],
        args.grow_plan + (args.grow_recipients,) if args.grow_plan else None, args.compare, args.keep,
        lambda text: setattr(args, "fs_description", text))
    if args.compare:
        try:
            return run_compare(args, names, scratch)
        finally:
            if args.keep:
                log(f"bench: kept {scratch}")
            else:
                shutil.rmtree(scratch, ignore_errors=True)
    results = []
    try:
        for w in runs:
            name = w.name
            messages = max(1, round(w.messages * args.scale))
            directory = os.path.join(scratch, name)
            os.makedirs(directory)
            try:
                r = (run_target if args.target else run_own)(w, messages, args, directory)
            except (RuntimeError, subprocess.CalledProcessError) as e:
                r = Result(w, messages, errors=[str(e)])
            results.append(r)
            log(details(r))
    except KeyboardInterrupt:
        log("bench: interrupted")
    finally:
        if args.keep:
            log(f"bench: kept {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)

    print()
    print(table(results))
    if args.grow_plan:
        print()
        print(bench_grow.table(results, lambda r: r.expected / r.seconds if r.seconds and ok(r) else None, args))
    print()
    print(provenance(args))
    failed = [r for r in results if r.errors or (r.landed is not None and r.landed != r.expected)]
    return 1 if failed or len(results) < len(runs) else 0


if __name__ == "__main__":
    sys.exit(main())
