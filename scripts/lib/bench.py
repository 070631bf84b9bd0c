"""LMTP delivery benchmark behind scripts/bench (run that, not this file).

Drives an LMTP server with Postfix's smtp-source in LMTP mode (-L) and reports, per workload:
messages/s, deliveries/s (messages x recipients), fsync-family calls per message, bytes written per
message, store growth on disk and the peak RSS of one worker. It also checks that every delivery
landed.

Without --target it starts a private Cubby from build/bin on a fresh temporary store for each
workload (its own settings and services files, a UNIX socket, the mailboxes smtp-source addresses),
under strace; its partition has Cyrus's layout, or with --format maildir is Maildir++
(`partitionformat: maildir`), where deliveries are counted as files in the users' new/ and cur/.
With --target it drives an already running server; the server-side figures then need --pid, and
the landed check needs to know the store (automatic for Cubby's scripts/run and for the reference
peers in /work/shared/peers).

W2S is W2 with Sieve: before the run each recipient gets the folder Bench (cubbyctl mailbox
create) and SIEVE_SCRIPT below as its active script (cubbyctl sieve put/activate, in the private
instance's sievedir). The script's 20 rules are evaluated for every recipient and the last files
the message into Bench without a keep, so W2S makes as many deliveries as W2; the check wants
every one of them in Bench. With W2 in the same run the output sets W2S against W2 (issue 13: at
least 0.85x the deliveries/s, fsyncs/msg at most W2's + FSYNC_SLACK). The peers have no scripts:
under --compare W2S runs on Cubby only.

--compare runs Cubby twice, on the Cyrus layout (row cubby) and on Maildir (row cubby-maildir),
beside the peers; cubby-maildir is set against Dovecot LMTP, which writes the same format with hard
links (issue 12), and its fsyncs/msg against the cubby row's. "No more fsyncs than" is read as "at
most FSYNC_SLACK (0.1) more per message": group commit makes the figure vary by a few hundredths
between runs of one build.

--grow (scripts/lib/bench_grow.py) runs each workload also on a store first grown by cubby-fill and
reports the index size per message; --fs (scripts/lib/bench_fs.py) puts the stores on a fresh
journaled ext4, an XFS or a tmpfs made for the run; --front-end (scripts/lib/bench_front.py) runs
a workload straight to one back end and through the LMTP front end to 1 and 3 back ends. Their
modules say how.

How each figure is measured:
  seconds         wall time of smtp-source (connect to last QUIT).
  fsyncs/msg      fsync, fdatasync, sync_file_range and syncfs calls made by the server's processes
                  from the start of the workload until the server went quiet (own instance: until
                  it stopped, so a flush at shutdown counts), from `strace -f -ttt`, counted in a
                  second, untimed pass of the same workload on the same store, so that the timed
                  pass runs untraced for Cubby as for the peers (own instance: the master is
                  restarted under strace with --seccomp-bpf, which stops only at the counted calls;
                  --target with --pid: strace is attached to the master and all its descendants,
                  which slows every system call).
  written/msg     /proc/<pid>/io write_bytes - cancelled_write_bytes summed over the master and its
                  live descendants (a reaped worker's counts are added to its parent's): bytes the
                  server sent, or will send, to the block layer, counted per dirtied page; includes
                  the index, its journal and any log file the server writes. wchar (bytes passed to
                  write calls) is printed in the details.
  store bytes     growth of `du -s -B1` over the message store (one du invocation, so a hard-linked
                  inode counts once): allocated blocks, metadata files in it included.
  CPU/dlv         user + system CPU time of the server's processes during the timed pass (utime and
                  stime in /proc/<pid>/stat of the master and its live descendants, plus the
                  master's cutime and cstime for the children it reaped), per delivery. Unlike
                  seconds it barely depends on what else the machine runs.
  peak RSS        the largest VmHWM among the server's LMTP worker processes (descendants of the
                  master whose name contains "lmtp"), sampled every 250 ms and at the end.

--repeat N runs each workload N times, each time on a fresh store (a peer reset), and reports for
each the run with the median deliveries/s (the slower of the middle two for an even N), its other
figures with it, except the peak RSS (the largest of all runs) and the sync calls. Cubby's own
instance has its traced pass in every run (strace --seccomp-bpf costs little) and the table shows
the median run's by fsyncs/msg: group commit makes one traced pass vary by several tenths between
identical runs (the messages a group gathers depend on how the sessions' turns fall), more than
the differences the goals ask about. A --target (a peer) is traced in the first run only (strace
attached stops it at every call). Every run's deliveries/s and fsyncs/msg are printed beside the
table, so a goal is judged on the median and the spread is in view: one workload of one second
moves by 10-20 % between identical runs on this machine. With --compare the
runs go in rounds (every server and workload, then again), so that a drift in the machine's speed
falls on every server alike.
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

import bench_front
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
    sieve: bool = False  # every recipient has SIEVE_SCRIPT active (Cubby only)


WORKLOADS = {
    w.name: w
    for w in (
        Workload("W1", 1, 4 * KIB, 8, 2000),
        Workload("W2", 10, 4 * KIB, 8, 1000),
        Workload("W2S", 10, 4 * KIB, 8, 1000, sieve=True),
        Workload("W3", 100, 4 * KIB, 4, 200),
        Workload("W4", 10, 1 * MIB, 4, 100),
    )
}

# W2S (issue 13): W2 with a Sieve script of 20 rules active for every recipient, as a site's
# sorting rules look (Roundcube's managesieve writes `if <test> { fileinto "X"; stop; }` blocks).
# Rules 1-19 test headers, addresses, the envelope and the size with every match type and
# never match smtp-source's messages (From: <sender@example.com>, To: <u0@example.com>, Date,
# Message-Id, no Subject); each is evaluated for every recipient. Rule 20 matches and files the
# message into SIEVE_FOLDER, which exists, with no keep: one delivery per recipient as in W2, all
# of them in the folder and none in the INBOX (so a rule that matched by mistake, or a script that
# failed and fell back to the implicit keep, shows as deliveries missing from the folder).
SIEVE_FOLDER = "Bench"
SIEVE_SCRIPT = r"""# scripts/bench W2S: 19 rules that do not match smtp-source's messages, then one that does.
require ["fileinto", "envelope", "regex", "subaddress", "relational", "comparator-i;ascii-numeric"];
if header :contains "list-id" "<announce.lists.example.org>" { fileinto "Lists/announce"; stop; }
if header :is "x-spam-flag" "YES" { fileinto "Junk"; stop; }
if header :matches "subject" "*[SPAM]*" { fileinto "Junk"; stop; }
if header :regex "subject" "^(Re|Fwd): +invoice [0-9]+" { fileinto "Invoices"; stop; }
if address :is "from" "boss@example.org" { fileinto "Work"; stop; }
if address :domain :is "from" "newsletter.example.net" { fileinto "News"; stop; }
if address :localpart :matches "from" "noreply*" { fileinto "Notifications"; stop; }
if envelope :is "from" "alerts@monitoring.example.org" { fileinto "Alerts"; stop; }
if envelope :domain :contains "from" "github" { fileinto "Code"; stop; }
if address :all :contains ["to", "cc"] "team@example.org" { fileinto "Team"; stop; }
if header :contains "x-mailer" "BulkMailer" { fileinto "Bulk"; stop; }
if exists "x-github-reason" { fileinto "Code"; stop; }
if size :over 10M { fileinto "Large"; stop; }
if anyof (header :is "precedence" "bulk", header :is "precedence" "list") { fileinto "Bulk"; stop; }
if allof (address :domain :is "from" "example.com", header :contains "subject" "weekly report") { fileinto "Reports"; stop; }
if header :value "ge" :comparator "i;ascii-numeric" "x-priority" "5" { fileinto "Low"; stop; }
if address :detail "to" "lists" { fileinto "Lists"; stop; }
if not exists "date" { fileinto "Broken"; stop; }
if header :regex "received" "from [^ ]+\\.spam\\.example\\.net" { fileinto "Junk"; stop; }
if address :is "from" "sender@example.com" { fileinto "%s"; stop; }
""" % SIEVE_FOLDER


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


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def tree_cpu(master):
    """CPU seconds (user + system) used so far by `master` and its descendants, the children it
    reaped included (a grandchild reaped by a worker is not)."""
    ticks = 0
    for pid in [master] + descendants(master):
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # After the comm field: state is fields[0], utime fields[11], stime [12], cutime [13], cstime [14].
        ticks += int(fields[11]) + int(fields[12])
        if pid == master:
            ticks += int(fields[13]) + int(fields[14])
    return ticks / CLOCK_TICKS


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
    kind: str  # "spool": <uid>. files (Cubby, Cyrus); "maildir": files in new/ and cur/ (Dovecot, Cubby's Maildir++)
    path: str

    def messages(self, folder=None):
        """(delivered message files, distinct inodes among them); with `folder`, only those in the
        users' folders of that name (spool: a directory <folder> holding <uid>. files; maildir:
        the Maildir++ folder .<folder>/new and cur)."""
        files, inodes = 0, set()
        uid = re.compile(r"^[0-9]+\.$")
        for directory, _, names in os.walk(self.path):
            if self.kind == "maildir":
                if os.path.basename(directory) not in ("new", "cur"):
                    continue
                if folder is not None and os.path.basename(os.path.dirname(directory)) != "." + folder:
                    continue
                chosen = names
            elif folder is not None and os.path.basename(directory) != folder:
                continue
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
    """A fresh Cubby store and master in `directory`, optionally started under strace.

    partition_format: "cyrus" (Cyrus's layout, the default) or "maildir" (Maildir++,
    `partitionformat: maildir`). The Sieve scripts live in <directory>/sieve (`sievedir`)."""

    def __init__(self, directory, users, tcp_port, use_strace, partition_format="cyrus"):
        self.dir = directory
        self.settings = os.path.join(directory, "imapd.conf")
        self.services = os.path.join(directory, "cyrus.conf")
        self.partition = os.path.join(directory, "spool")
        self.format = partition_format
        self.sievedir = os.path.join(directory, "sieve")
        self.pidfile = os.path.join(directory, "cubby-master.pid")
        self.socket = os.path.join(directory, "socket", "lmtp")
        self.logfile = os.path.join(directory, "master.log")
        self.trace = SyncTrace(os.path.join(directory, "strace.log")) if use_strace else None
        self.target = f"127.0.0.1:{tcp_port}" if tcp_port else f"unix:{self.socket}"
        self.process = None
        self.master = None
        for sub in ("lib", "spool", "socket", "sieve"):
            os.makedirs(os.path.join(directory, sub), exist_ok=True)
        with open(self.settings, "w") as f:
            f.write(
                "# Cubby settings written by scripts/bench\n"
                f"configdirectory: {directory}/lib\n"
                "defaultpartition: default\n"
                f"partition-default: {self.partition}\n"
                f"partitionformat: {self.format}\n"
                f"sievedir: {self.sievedir}\n"
                "servername: bench.localhost\n"
                f"lmtpsocket: {self.socket}\n"
                # As the Cyrus peer: smtp-source's messages must not be dropped as duplicates.
                "duplicatesuppression: no\n"
            )
            if os.geteuid() == 0:
                # Stay root, as the scratch directory is root's (0700): a user "cubby" that something
                # else created (scripts/run --dovecot, the .deb) would otherwise be switched to.
                f.write("cubby_user: root\n")
        with open(self.services, "w") as f:
            f.write("# Cubby services written by scripts/bench\nSERVICES {\n")
            f.write(f'  lmtpunix cmd="lmtpd" listen="{self.socket}" prefork=1\n')
            if tcp_port:
                f.write(f'  lmtp     cmd="lmtpd -a" listen="127.0.0.1:{tcp_port}" prefork=1\n')
            f.write("}\n")
        for user in users:
            self.cubbyctl("mailbox", "create", f"user/{user}")

    def store(self):
        """Where the deliveries land, counted in the partition's own terms."""
        return Store("maildir" if self.format == "maildir" else "spool", self.partition)

    def install_sieve(self, users, folder, source):
        """Creates `folder` for each user and makes `source` their active script, by cubbyctl."""
        path = os.path.join(self.dir, "bench.sieve")
        with open(path, "w") as f:
            f.write(source)
        for user in users:
            self.cubbyctl("mailbox", "create", f"user/{user}/{folder}")
            self.cubbyctl("sieve", "put", user, "bench", path)
            self.cubbyctl("sieve", "activate", user, "bench")

    def cubbyctl(self, *args, check=True):
        command = [os.path.join(BIN, "cubbyctl"), "-C", self.settings, *args]
        result = subprocess.run(command, capture_output=True, text=True)
        if check and result.returncode != 0:
            raise RuntimeError(f"{shlex.join(command)} failed ({result.returncode}): {result.stderr.strip()}")
        return result

    def start(self, traced=True):
        """Starts the master, under strace when the instance traces and `traced` is true."""
        command = [os.path.join(BIN, "cubby-master"), "-C", self.settings, "-M", self.services, "-D", "-p", self.pidfile]
        if self.trace and traced:
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
    cpu: float | None = None  # server CPU seconds during the timed pass (tree_cpu)
    store_bytes: int | None = None
    peak_rss_kib: int | None = None
    workers: int | None = None
    filed: int | None = None  # sieve workloads: deliveries found in SIEVE_FOLDER
    command: str = ""
    setup: str = ""  # what was done to the store before smtp-source ran, beyond the mailboxes
    errors: list = dataclasses.field(default_factory=list)
    growth: dict | None = None  # --grow: the fill and the index's size (bench_grow.py)
    rates: list | None = None  # --repeat: deliveries/s of every run, in run order (median_run)
    sync_rates: list | None = None  # --repeat: fsyncs/msg of every run (None: untraced)

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
    """One workload against a private Cubby on a fresh store in `directory`.

    As for a peer (run_target), the timed pass runs untraced: under strace every sync call stops
    the server twice, which cost Cubby a fifth of its W1 rate while the peers' timed passes ran
    free. Unless --no-strace, a second, identical pass then runs on the same store with the master
    started under strace, only to count sync calls (until it stopped, so a flush at shutdown
    counts)."""
    result = Result(w, messages)
    users = mailbox_users(w.recipients)
    instance = CubbyInstance(directory, users, args.tcp_port, not args.no_strace, args.format)
    store = instance.store()
    if w.sieve:
        instance.install_sieve(users, SIEVE_FOLDER, SIEVE_SCRIPT)
        result.setup = (f"for each of the {len(users)} users: cubbyctl mailbox create user/<u>/{SIEVE_FOLDER}; "
                        f"cubbyctl sieve put <u> bench {os.path.join(directory, 'bench.sieve')}; cubbyctl sieve activate <u> bench")
    result.growth = bench_grow.prepare(instance, w, args, BIN, log)  # --grow: fills a +grown store
    command = smtp_source_command(w, messages, instance.target, args.reuse)
    landed0, inodes0 = store.messages()  # a +grown store holds messages already
    filed0 = store.messages(SIEVE_FOLDER)[0] if w.sieve else 0
    bytes0 = store.bytes_on_disk()
    instance.start(traced=False)
    try:
        io0, cpu0 = tree_io(instance.master), tree_cpu(instance.master)
        sampler = RssSampler(instance.master)
        result.seconds = drive(result, command, args.timeout)
        sampler.stop()
        io1, result.cpu = tree_io(instance.master), tree_cpu(instance.master) - cpu0
        result.written, result.wchar = io1[0] - io0[0], io1[1] - io0[1]
        result.peak_rss_kib, result.workers = sampler.peak_kib, len(sampler.workers)
    finally:
        instance.stop()
    bench_grow.finish(result.growth, instance)
    landed, inodes = store.messages()
    result.landed, result.inodes = landed - landed0, inodes - inodes0
    result.store_bytes = store.bytes_on_disk() - bytes0
    if w.sieve:
        result.filed = store.messages(SIEVE_FOLDER)[0] - filed0
        if result.filed != result.expected:
            result.errors.append(f"Sieve filed {result.filed} of {result.expected} deliveries into {SIEVE_FOLDER} "
                                 f"(the rest went elsewhere: a rule matched by mistake or the script failed; see {instance.logfile}"
                                 + ("" if args.keep else ", kept with --keep") + ")")
    if instance.trace and not result.errors:
        instance.start(traced=True)
        try:
            since = time.time()  # start-up's sync calls are not the workload's
            traced = Result(w, messages)
            drive(traced, command, args.timeout)
        finally:
            instance.stop()
        result.syncs = instance.trace.counts(since)
        result.errors += [f"traced pass: {e}" for e in traced.errors]
        landed_traced = store.messages()[0] - landed
        if landed_traced != result.expected:
            result.errors.append(f"traced pass: {landed_traced} of {result.expected} deliveries landed")
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
        io0, cpu0 = tree_io(master), tree_cpu(master)
        sampler = RssSampler(master)
    try:
        result.seconds = drive(result, command, args.timeout)
    finally:
        if master:
            sampler.stop()
    if master:
        io1, result.cpu = tree_io(master), tree_cpu(master) - cpu0
        result.written, result.wchar = io1[0] - io0[0], io1[1] - io0[1]
        result.peak_rss_kib, result.workers = sampler.peak_kib, len(sampler.workers)
    if store:
        landed, inodes = store.messages()
        result.landed, result.inodes = landed - landed0, inodes - inodes0
        result.store_bytes = store.bytes_on_disk() - bytes0

    if not master or args.no_strace or args.repeat_index > 0 or result.errors:
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
    if r.landed is None and not r.command:
        pass  # smtp-source never ran: the error below says why
    elif r.landed is None:
        lines.append("  landed: not checked (unknown store; give --store spool:DIR or maildir:DIR)")
    else:
        verdict = "ok" if r.landed == r.expected else "MISSING DELIVERIES"
        lines.append(f"  landed: {r.landed} of {r.expected} deliveries ({verdict}), {r.inodes} distinct inodes for {r.messages} messages")
    if r.setup:
        lines.append(f"  set up before the run: {r.setup}")
    if r.filed is not None:
        verdict = "ok" if r.filed == r.expected else "NOT ALL FILED"
        lines.append(f"  filed by Sieve into {SIEVE_FOLDER}: {r.filed} of {r.expected} deliveries ({verdict})")
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


def cpu_per_delivery(r):
    """The server's CPU time per delivery in the timed pass, in microseconds."""
    return "-" if r.cpu is None or not r.expected else f"{r.cpu / r.expected * 1e6:.0f} us"


def table(results):
    header = ["workload", "msgs", "rcpts", "seconds", "msgs/s", "deliveries/s", "CPU/dlv", "fsyncs/msg", "written/msg", "store bytes", "peak RSS"]
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
            cpu_per_delivery(r),
            "-" if syncs is None else f"{per_msg(syncs):.2f}",
            "-" if r.written is None else human_bytes(int(per_msg(r.written))),
            human_bytes(r.store_bytes),
            "-" if r.peak_rss_kib is None else human_bytes(r.peak_rss_kib * 1024),
        ])
    widths = [max(len(x) for x in column) for column in zip(header, *rows)]
    fmt = lambda cells: "  ".join(c.ljust(n) if i == 0 else c.rjust(n) for i, (c, n) in enumerate(zip(cells, widths)))
    return "\n".join([fmt(header), fmt(["-" * n for n in widths])] + [fmt(row) for row in rows])


def ok(r):
    return r is not None and not r.errors and (r.landed is None or r.landed == r.expected)


def median_run(runs):
    """--repeat: of the runs of one workload on one server (in run order), the one with the median
    deliveries/s, which also carries every run's deliveries/s (rates) and fsyncs/msg (sync_rates),
    the largest peak RSS of them all, and the sync calls of the traced run with the median
    fsyncs/msg (the slower of the middle two for an even number: the larger count). A failed run
    is reported instead: no failure hides behind a median."""
    failed = next((r for r in runs if not ok(r)), None)
    if failed is not None:
        return failed
    chosen = sorted(runs, key=lambda r: r.seconds)[len(runs) // 2]  # equal messages: by time
    traced = sorted((r for r in runs if r.syncs is not None), key=fsyncs_per_msg)
    chosen.sync_rates = [fsyncs_per_msg(r) for r in runs]
    chosen.syncs = traced[len(traced) // 2].syncs if traced else None
    peaks = [r.peak_rss_kib for r in runs if r.peak_rss_kib is not None]
    chosen.peak_rss_kib = max(peaks) if peaks else None
    chosen.rates = [rate(r, True) for r in runs]
    return chosen


def spread_table(results):
    """--repeat: every run's deliveries/s beside the median that the table shows."""
    lines = []
    for (server, name), r in results.items():
        if r is None or not r.rates:
            continue
        known = [x for x in r.rates if x is not None]
        spread = f"{(max(known) - min(known)) / (sum(known) / len(known)) * 100:.0f} %" if known else "-"
        line = (f"  {name:<8} {server:<14} median {rate(r, True):>7.0f}  runs "
                + " ".join("-" if x is None else f"{x:.0f}" for x in r.rates) + f"  (spread {spread} of the mean)")
        if r.sync_rates and sum(x is not None for x in r.sync_rates) > 1:
            line += ("; fsyncs/msg median " + f"{fsyncs_per_msg(r):.2f}" + " runs "
                     + " ".join("-" if x is None else f"{x:.2f}" for x in r.sync_rates))
        lines.append(line)
    if not lines:
        return ""
    return "deliveries/s (and, where every run was traced, fsyncs/msg) of every run (--repeat; the tables and goals use the medians):\n" + "\n".join(lines)


def rounds(args):
    """The argument sets of the --repeat runs: each traced for Cubby's own instance (unless
    --no-strace), only the first for a --target."""
    out = []
    for i in range(args.repeat):
        sub = argparse.Namespace(**vars(args))
        sub.repeat_index = i
        out.append(sub)
    return out


def run_label(i, args):
    return f"run {i + 1}/{args.repeat}: " if args.repeat > 1 else ""


def run_directory(parent, name, i, args):
    """Where run i of a workload keeps its store: a directory of its own for each --repeat run."""
    return os.path.join(parent, name + (f"-{i + 1}" if args.repeat > 1 else ""))


def rate(r, deliveries):
    if not ok(r) or not r.seconds:
        return None
    return (r.expected if deliveries else r.messages) / r.seconds


def ratio(a, b):
    return "-" if a is None or not b else f"{a / b:.2f}x"


def fsyncs_per_msg(r):
    if not ok(r) or r.syncs is None:
        return None
    return sum(r.syncs.values()) / r.messages


def mark(text, met):
    """One goal line: met, NOT MET, or not measured (met is None)."""
    return f"  [{'met' if met else 'NOT MET' if met is not None else 'not measured'}] {text}"


# Issue 13: W2S within 15 % of W2's deliveries/s, "no extra fsync per message". Issue 12: fsyncs
# per message on Maildir "no higher than on the Cyrus layout". Group commit makes fsyncs/msg vary
# by a few hundredths between runs of one build, so "no more" is read as "at most FSYNC_SLACK more".
SIEVE_MAX_SLOWDOWN = 0.15
FSYNC_SLACK = 0.1


def sieve_goal(w2s, w2, label=""):
    """Issue 13's goal line for one server: W2S against W2 of the same run."""
    a, b = rate(w2s, True), rate(w2, True)
    fa, fb = fsyncs_per_msg(w2s), fsyncs_per_msg(w2)
    speed = "-" if a is None or b is None else f"{a:.0f} vs W2 {b:.0f} = {a / b:.2f}x"
    syncs = "-" if fa is None or fb is None else f"{fa:.2f} vs W2 {fb:.2f} ({fa - fb:+.2f})"
    text = (f"{label}W2S (W2, every recipient with a 20-rule Sieve script filing into {SIEVE_FOLDER}) deliveries/s "
            f">= {1 - SIEVE_MAX_SLOWDOWN:.2f}x W2's: {speed}; fsyncs/msg <= W2's + {FSYNC_SLACK}: {syncs}")
    if w2 is None:
        text += " (W2 was not run: --workloads W2,W2S)"
    met = None if None in (a, b, fa, fb) else a >= (1 - SIEVE_MAX_SLOWDOWN) * b and fa <= fb + FSYNC_SLACK
    return mark(text, met)


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
        layout = ("a Cyrus-layout and a Maildir partition (rows cubby, cubby-maildir)" if args.compare
                  else "a Maildir partition (partitionformat: maildir)" if args.format == "maildir" else "a Cyrus-layout partition")
        lines.append(f"cubby: {BIN} ({built}); fresh store per workload, {layout}")
    if getattr(args, "fs_description", None):
        lines.append(f"stores: {args.fs_description}")
    version = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "postfix"], capture_output=True, text=True).stdout
    lines.append(f"driver: smtp-source (postfix {version or '?'}) -L{' -d' if args.reuse else ''}; "
                 f"machine: {os.cpu_count()} CPUs, {os.uname().release}")
    if not args.no_strace and (args.pid or not args.target):
        lines.append("note: fsyncs/msg come from a second, traced pass of each workload on the same store ("
                     + ("strace attached" if args.target else "the master restarted under strace --seccomp-bpf")
                     + "); the timed pass ran untraced"
                     + (f"; with --repeat {args.repeat} every run of Cubby's own instance has its traced pass (the table shows the "
                        "median fsyncs/msg), a peer's first run only" if args.repeat > 1 else ""))
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
# The two Cubby rows: server label -> partition format of its private instance.
CUBBY_FORMATS = {"cubby": "cyrus", "cubby-maildir": "maildir"}


def runs_on(server, w):
    """A Sieve workload runs on Cubby only: the peers are provisioned without scripts."""
    return server in CUBBY_FORMATS or not w.sieve


def compare_workloads(names):
    """The chosen workloads, then the W2 sweep over SWEEP sessions (named W2/sN)."""
    chosen = [WORKLOADS[n] for n in names]
    base = WORKLOADS["W2"]
    chosen += [dataclasses.replace(base, name=f"W2/s{n}", sessions=n) for n in SWEEP]
    return chosen


# What each peer runs (cyrus.sh, dovecot.sh) and provisions with. dovecot-core and cyrus-common
# come with other packages too (Dovecot's IMAP for the Maildir tests), so they prove nothing; and
# Debian's cyrus-imapd conflicts with dovecot-imapd (both provide imap-server), which
# scripts/install-deps installs: on such a machine the Cyrus peer cannot be installed.
PEER_PROGRAMS = {
    "cyrus": ("/usr/sbin/cyrmaster", "/usr/lib/cyrus/bin/lmtpd", "/usr/lib/cyrus/bin/imapd", "/usr/bin/cyradm"),
    "dovecot": ("/usr/sbin/dovecot", "/usr/lib/dovecot/lmtp"),
    "smtp-sink": (SMTP_SINK,),
}


def missing_programs(server):
    return [p for p in PEER_PROGRAMS.get(server, ()) if not os.access(p, os.X_OK)]


CYRUS_LMTPD, CYRUS_IMAPD = PEER_PROGRAMS["cyrus"][1:3]


def output_tail(out, lines):
    """The last `lines` lines a finished subprocess.run(capture_output=True) printed, on one line."""
    return " | ".join((out.stdout + out.stderr).strip().splitlines()[-lines:])


# What ../shared/peers/install.sh installs, but cyrus-imapd (see below).
PEER_PACKAGES_BESIDE_DOVECOT = ["cyrus-common", "cyrus-admin", "sasl2-bin", "libsasl2-modules", "dovecot-core",
                                "dovecot-lmtpd", "dovecot-sieve", "postfix", "swaks"]


def install_peers_beside_dovecot():
    """Debian's cyrus-imapd conflicts with dovecot-imapd (both provide imap-server), which
    scripts/install-deps installs for the interop tests, so install.sh's one apt-get fails on a
    machine set up for the tests and installs nothing (Dovecot's lmtp included). This installs the
    rest of its packages, as it does (no daemon started: policy-rc.d), and of cyrus-imapd only
    the imapd program the Cyrus peer provisions mailboxes through (cyrus-common has the master and
    lmtpd), unpacked from the package beside dpkg's knowledge rather than removing Dovecot's IMAP
    server."""
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    policy = "/usr/sbin/policy-rc.d"
    made_policy = not os.path.exists(policy)
    if made_policy:
        with open(policy, "w") as f:
            f.write("#!/bin/sh\nexit 101\n")
        os.chmod(policy, 0o755)
    try:
        out = subprocess.run(["apt-get", "install", "-y", "-q"] + PEER_PACKAGES_BESIDE_DOVECOT, env=env,
                             stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if out.returncode != 0:
            log(f"bench: apt-get install {' '.join(PEER_PACKAGES_BESIDE_DOVECOT)} exited {out.returncode}: {output_tail(out, 3)}")
    finally:
        if made_policy:
            os.remove(policy)
    if os.access(CYRUS_IMAPD, os.X_OK) or not os.access(CYRUS_LMTPD, os.X_OK):
        return
    with tempfile.TemporaryDirectory(prefix="cubby-bench-cyrus-") as tmp:
        out = subprocess.run(["apt-get", "download", "cyrus-imapd"], cwd=tmp, stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if out.returncode != 0:
            log(f"bench: apt-get download cyrus-imapd exited {out.returncode}: {output_tail(out, 3)}")
            return
        debs = [f for f in os.listdir(tmp) if f.endswith(".deb")]
        root = os.path.join(tmp, "root")
        out = subprocess.run(["dpkg-deb", "-x", os.path.join(tmp, debs[0]), root], capture_output=True, text=True)
        unpacked = root + CYRUS_IMAPD
        if out.returncode != 0 or not os.access(unpacked, os.X_OK):
            log(f"bench: dpkg-deb -x {debs[0]} failed: {output_tail(out, 3)}")
            return
        shutil.copy2(unpacked, CYRUS_IMAPD)
        log(f"bench: unpacked {CYRUS_IMAPD} from {debs[0]} (cyrus-imapd conflicts with dovecot-imapd)")


def peers_ready():
    """Installs the peers if a program of theirs is missing (install.sh is idempotent); returns
    {server: why it cannot run} for those still missing something afterwards."""
    if any(missing_programs(server) for server in PEER_PROGRAMS):
        log(f"bench: installing the reference peers: {PEERS}/install.sh")
        out = subprocess.run([f"{PEERS}/install.sh"], stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if out.returncode != 0:
            log(f"bench: {PEERS}/install.sh exited {out.returncode}: {output_tail(out, 4)}")
            install_peers_beside_dovecot()
    return {server: f"not installed ({', '.join(missing)} missing; {PEERS}/install.sh could not install it)"
            for server in PEER_PROGRAMS if (missing := missing_programs(server))}


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


def compare_table(workloads, servers, results):
    """One row per workload and server. cubby/this and cubby/best peer: deliveries/s of Cubby on the
    Cyrus layout over this row's or the better peer's; cubby-maildir/dovecot: Cubby on Maildir over
    Dovecot LMTP. A workload a server does not run (W2S on a peer) is a row marked n/a."""
    header = ["workload", "server", "msgs", "seconds", "msgs/s", "deliveries/s", "CPU/dlv", "fsyncs/msg", "written/msg",
              "store bytes", "peak RSS", "cubby/this", "cubby/best peer", "cubby-maildir/dovecot"]
    rows = []
    for w in workloads:
        cubby = rate(results.get(("cubby", w.name)), True)
        peer_rates = [rate(results.get((p[0], w.name)), True) for p in PEER_SERVERS]
        best = max([x for x in peer_rates if x is not None], default=None)
        for server in servers:
            if not runs_on(server, w):
                rows.append([w.name, server, "n/a"] + [""] * (len(header) - 3))
                continue
            r = results.get((server, w.name))
            if r is None:
                continue
            syncs = None if r.syncs is None else sum(r.syncs.values()) / r.messages
            rows.append([
                w.name, server + ("" if ok(r) else " FAILED"), str(r.messages), f"{r.seconds:.2f}",
                "-" if rate(r, False) is None else f"{rate(r, False):.0f}",
                "-" if rate(r, True) is None else f"{rate(r, True):.0f}",
                cpu_per_delivery(r),
                "-" if syncs is None else f"{syncs:.2f}",
                "-" if r.written is None else human_bytes(r.written // r.messages),
                human_bytes(r.store_bytes),
                "-" if r.peak_rss_kib is None else human_bytes(r.peak_rss_kib * 1024),
                "" if server in CUBBY_FORMATS else ratio(cubby, rate(r, True)),
                ratio(cubby, best) if server == "cubby" else "",
                ratio(rate(r, True), rate(results.get(("dovecot", w.name)), True)) if server == "cubby-maildir" else "",
            ])
    widths = [max(len(x) for x in column) for column in zip(header, *rows)]
    fmt = lambda cells: "  ".join(c.ljust(n) if i < 2 else c.rjust(n) for i, (c, n) in enumerate(zip(cells, widths))).rstrip()
    return "\n".join([fmt(header), fmt(["-" * n for n in widths])] + [fmt(row) for row in rows])


def goals(results, names):
    """The goals of issues 7 and 14 for Cubby on the Cyrus layout against the better peer, each
    marked met or NOT MET (or not measured)."""
    lines = []

    def best_peer(name, deliveries):
        rates = [rate(results.get((p[0], name)), deliveries) for p in PEER_SERVERS]
        rates = [x for x in rates if x is not None]
        return max(rates) if len(rates) == len(PEER_SERVERS) else None

    for name, deliveries, factor in (("W1", False, 3), ("W2", True, 6), ("W3", True, 20)):
        if name not in names:
            continue
        c, b = rate(results.get(("cubby", name)), deliveries), best_peer(name, deliveries)
        unit = "deliveries/s" if deliveries else "msgs/s"
        got = "-" if c is None or b is None else f"{c:.0f} vs best peer {b:.0f} = {c / b:.2f}x"
        text = f"{name} {unit} >= {factor}x the better peer: {got}"
        met = None if c is None or b is None else c >= factor * b
        if name == "W3":
            syncs = fsyncs_per_msg(results.get(("cubby", name)))
            text += f"; fsyncs/msg <= 4: {'-' if syncs is None else f'{syncs:.2f}'}"
            met = None if met is None or syncs is None else met and syncs <= 4
        lines.append(mark(text, met))
    if "W4" in names:
        r = results.get(("cubby", "W4"))
        c, sink = rate(r, True), rate(results.get(("smtp-sink", "W4")), True)
        one_copy = None if not ok(r) else r.messages * r.workload.size
        store = None if not ok(r) or r.store_bytes is None else r.store_bytes / one_copy
        got = "-" if c is None or not sink else f"{c:.0f} vs smtp-sink {sink:.0f} = {c / sink:.2f}x"
        text = f"W4 deliveries/s >= 0.95x smtp-sink's ceiling: {got}; store bytes <= 1.05x one copy per message: {'-' if store is None else f'{store:.2f}x'}"
        lines.append(mark(text, None if c is None or not sink or store is None else c >= 0.95 * sink and store <= 1.05))
    peaks = {k: r.peak_rss_kib for k, r in results.items() if k[0] in CUBBY_FORMATS and r.peak_rss_kib is not None}
    worst = max(peaks.values(), default=None)
    text = "Cubby worker peak RSS < 64 MiB in every workload, both layouts: " + ("-" if worst is None else f"largest {human_bytes(worst * 1024)}")
    lines.append(mark(text, None if not peaks else worst < RSS_LIMIT_KIB and all(ok(results.get(k)) for k in peaks)))
    return "\n".join(lines)


def maildir_goals(results, names):
    """Issue 12's goals: Cubby on Maildir against Dovecot LMTP (same format, hard links too), and
    its fsyncs per message against Cubby on the Cyrus layout in every workload both ran."""
    lines = []
    for name, factor in (("W1", 2), ("W2", 6), ("W3", 15)):
        if name not in names:
            continue
        c, d = rate(results.get(("cubby-maildir", name)), True), rate(results.get(("dovecot", name)), True)
        got = "-" if c is None or d is None else f"{c:.0f} vs Dovecot {d:.0f} = {c / d:.2f}x"
        lines.append(mark(f"{name} deliveries/s on Maildir >= {factor}x Dovecot LMTP's: {got}", None if c is None or d is None else c >= factor * d))
    pairs = [(n, fsyncs_per_msg(results.get(("cubby-maildir", n))), fsyncs_per_msg(results.get(("cubby", n)))) for n in names]
    got = ", ".join(f"{n} {'-' if m is None else f'{m:.2f}'} vs {'-' if c is None else f'{c:.2f}'}" for n, m, c in pairs)
    measured = [(m, c) for _, m, c in pairs if m is not None and c is not None]
    met = None if len(measured) < len(pairs) else all(m <= c + FSYNC_SLACK for m, c in measured)
    lines.append(mark(f"fsyncs/msg on Maildir <= on the Cyrus layout + {FSYNC_SLACK} in every workload (Maildir vs Cyrus): {got}", met))
    return "\n".join(lines)


def run_compare(args, names, scratch):
    """Every workload against Cubby on each partition format (own fresh instance), each peer (reset
    first) and smtp-sink; a Sieve workload against the two Cubby rows only."""
    unavailable = peers_ready()
    # A SIGTERM (e.g. from timeout) ends the run like ^C: the peers are still stopped.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    workloads = compare_workloads(names)
    servers = list(CUBBY_FORMATS) + [p[0] for p in PEER_SERVERS] + ["smtp-sink"]
    planned = [(server, w) for server in servers for w in workloads if runs_on(server, w)]
    runs = {}  # (server, workload) -> its Results, one per --repeat round
    try:
        for i, round_args in enumerate(rounds(args)):
            for server, w in planned:
                messages = max(1, round(w.messages * args.scale))
                directory = run_directory(os.path.join(scratch, server), w.name.replace("/", "-"), i, args)
                os.makedirs(directory)
                log(f"bench: --compare: {run_label(i, args)}{server} {w.name}")
                try:
                    if server in unavailable:
                        raise RuntimeError(f"{server}: {unavailable[server]}")
                    if server in CUBBY_FORMATS:
                        sub = argparse.Namespace(**vars(round_args))
                        sub.format = CUBBY_FORMATS[server]
                        r = run_own(w, messages, sub, directory)
                    elif server == "smtp-sink":
                        r = run_sink(w, messages, round_args, directory)
                    else:
                        r = run_peer(next(p for p in PEER_SERVERS if p[0] == server), w, messages, round_args, directory)
                except (RuntimeError, subprocess.CalledProcessError) as e:
                    r = Result(w, messages, errors=[str(e)])
                runs.setdefault((server, w.name), []).append(r)
                log(f"[{server}] {run_label(i, args)}" + details(r))
    except KeyboardInterrupt:
        log("bench: interrupted")
    finally:
        for script in ("cyrus.sh", "dovecot.sh"):
            subprocess.run([f"{PEERS}/{script}", "stop"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # Only what ran in every round counts (an interrupted round is left out whole).
    complete = min((len(v) for v in runs.values()), default=0)
    results = {k: median_run(v[:complete]) for k, v in runs.items() if complete}
    print()
    print(compare_table(workloads, servers, results))
    if args.repeat > 1:
        print()
        print(spread_table(results))
    print()
    print("goals (issues 7 and 14; Cubby on the Cyrus layout):")
    print(goals(results, names))
    print("goals (issue 12; Cubby on Maildir, row cubby-maildir):")
    print(maildir_goals(results, names))
    if "W2S" in names:
        print("goals (issue 13; Sieve at delivery):")
        for server in CUBBY_FORMATS:
            print(sieve_goal(results.get((server, "W2S")), results.get((server, "W2")), f"{server}: "))
    print()
    print(provenance(args))
    print(f"peers: Cyrus lmtpd and Dovecot LMTP from {PEERS} (reset before each workload, stopped at the end); "
          "smtp-sink stores nothing: its row is the driver's ceiling; smtp-sink's own figures (fsyncs, I/O, RSS) are not measured")
    for server, why in unavailable.items():
        print(f"{server}: {why}: its rows FAILED without running")
    if "W2S" in names:
        print(f"W2S: Cubby only (n/a: the peers run without Sieve scripts); the script is SIEVE_SCRIPT in {os.path.relpath(__file__, ROOT)}")
    failed = [r for r in results.values() if not ok(r)]
    return 1 if failed or len(results) < len(planned) else 0


# ---------------------------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(
        prog=os.environ.get("CUBBY_BENCH_ARGV0", "scripts/bench"),
        description="Benchmark LMTP delivery with Postfix's smtp-source; see the header of scripts/lib/bench.py for how each figure is measured.",
        epilog="workloads: " + "; ".join(f"{w.name} {w.recipients} rcpt, {human_bytes(w.size)}, {w.sessions} sessions, {w.messages} msgs"
                                          + (f", a 20-rule Sieve script per recipient filing into {SIEVE_FOLDER} (own instance only)" if w.sieve else "")
                                          for w in WORKLOADS.values()),
    )
    parser.add_argument("--workloads", help=f"comma-separated subset of {','.join(WORKLOADS)} (default: all; with --target all but W2S)")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every message count (e.g. 0.1 for a quick check)")
    parser.add_argument("--target", help="drive a running server instead: unix:/path or host:port")
    parser.add_argument("--pid", help="with --target: the server's master pid, or its pidfile; enables strace, I/O and RSS figures")
    parser.add_argument("--store", help="with --target: where deliveries land, spool:DIR (<uid>. files: Cubby, Cyrus) or maildir:DIR (Dovecot); known targets are recognised")
    parser.add_argument("--reset", metavar="COMMAND", help="with --target: shell command run before each workload, e.g. '/work/shared/peers/cyrus.sh reset'")
    parser.add_argument("--bin", help="own instance: directory holding cubby-master, lmtpd and cubbyctl (default: build/bin)")
    parser.add_argument("--format", choices=("cyrus", "maildir"), default="cyrus",
                        help="own instance: the partition's format, cyrus (Cyrus's layout, default) or maildir (Maildir++, partitionformat: maildir)")
    parser.add_argument("--tcp-port", type=int, default=0, help="own instance: also listen on 127.0.0.1:PORT with lmtpd -a and drive that")
    parser.add_argument("--reuse", action="store_true", help="smtp-source -d: send every message of a session over one connection")
    parser.add_argument("--no-strace", action="store_true", help="do not trace the server (no fsync figure)")
    parser.add_argument("--compare", action="store_true", help="run every workload and a W2 sweep of 1, 4, 16, 64 sessions against Cubby (own instance, "
                        "once on the Cyrus layout and once on Maildir), Cyrus lmtpd and Dovecot LMTP (the peers in /work/shared/peers, reset before each workload; "
                        "not W2S) and smtp-sink, then one table with ratios and the goals")
    parser.add_argument("--repeat", type=int, default=1, metavar="N",
                        help="run each workload N times, each on a fresh store (with --compare: in N rounds over every server), and report the run "
                        "with the median deliveries/s and the median fsyncs/msg, every run's figures beside the table; a --target (a peer) is traced "
                        "for fsyncs in the first run only")
    parser.add_argument("--timeout", type=int, default=900, help="seconds one workload may take (default 900)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (stores, logs, traces)")
    parser.add_argument("--grow", metavar="MAILBOXES,MESSAGES", help="own instance: run each workload on an empty store and again (as <workload>+grown) "
                        "on one first grown by cubby-fill to MAILBOXES mailboxes and MESSAGES deliveries (e.g. 10k,1M); adds the index size per message "
                        "and the grown/empty ratio (scripts/lib/bench_grow.py)")
    parser.add_argument("--grow-recipients", type=int, default=10, metavar="R", help="with --grow: mailboxes each filler message is hard-linked into (default 10, as W2)")
    parser.add_argument("--fs", choices=bench_fs.KINDS, default="root", help="where the stores live: root (a temporary directory on the root file system, the default), "
                        "or a fresh ext4 (journaled) or xfs on a loop device, or a tmpfs, made for the run and removed after it; with --compare the peers' stores too "
                        "(scripts/lib/bench_fs.py)")
    parser.add_argument("--front-end", action="store_true", help="run each workload (default W2) straight to one Cubby back end, then through an "
                        "LMTP front end (lmtpd -P) to 1 and to 3 back ends with the directory in a private PostgreSQL; reports the front end's CPU per "
                        "delivery and a projection (scripts/lib/bench_front.py)")
    args = parser.parse_args()
    args.repeat_index = 0  # rounds() numbers the --repeat runs
    global BIN
    if args.bin:
        BIN = user_path(args.bin)

    if args.front_end and args.workloads is None:
        args.workloads = "W2"
    if args.workloads is None:
        args.workloads = ",".join(n for n, w in WORKLOADS.items() if not (args.target and w.sieve))
    names = [n.strip().upper() for n in args.workloads.split(",") if n.strip()]
    unknown = [n for n in names if n not in WORKLOADS]
    if unknown or not names:
        parser.error(f"unknown workload(s) {','.join(unknown)}; choose from {','.join(WORKLOADS)}")
    if not args.target and (args.pid or args.store or args.reset):
        parser.error("--pid, --store and --reset go with --target")
    format_given = any(a == "--format" or a.startswith("--format=") for a in sys.argv[1:])
    if args.compare and (args.target or args.tcp_port or format_given):
        parser.error("--compare runs its own Cubby (on both formats) and the peers: no --target, --tcp-port or --format")
    if args.target and (args.bin or args.tcp_port or format_given):
        parser.error("--bin, --tcp-port and --format are for the private instance, not --target")
    if args.target and any(WORKLOADS[n].sieve for n in names if n in WORKLOADS):
        parser.error("W2S installs Sieve scripts in the private instance: not with --target")
    if args.grow and (args.target or args.compare):
        parser.error("--grow grows the private instance's store: no --target or --compare")
    if args.grow and args.format == "maildir":
        parser.error("--grow fills a Cyrus-layout partition (cubby-fill refuses Maildir): not with --format maildir")
    if args.fs != "root" and args.target:
        parser.error("--fs makes the file system of the private instance (and of the peers with --compare): no --target")
    if args.front_end and (args.target or args.compare or args.grow or args.tcp_port or format_given or args.fs != "root"
                           or any(WORKLOADS[n].sieve for n in names)):
        parser.error("--front-end runs its own back ends and front end on the root file system: no --target, --compare, --grow, --tcp-port, --format, --fs or W2S")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.repeat > 1 and (args.grow or args.front_end):
        parser.error("--repeat is for plain runs and --compare: not with --grow or --front-end")
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
        args.fs, [(max(1, round(w.messages * args.scale)), w.size, w.recipients, bench_grow.is_grown(w)) for w in sized] * args.repeat,
        args.grow_plan + (args.grow_recipients,) if args.grow_plan else None, args.compare, args.keep,
        lambda text: setattr(args, "fs_description", text))
    if args.front_end:
        try:
            return bench_front.run(sys.modules[__name__], args, names, scratch)
        finally:
            if args.keep:
                log(f"bench: kept {scratch}")
            else:
                shutil.rmtree(scratch, ignore_errors=True)
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
            repeats = []
            for i, round_args in enumerate(rounds(args)):
                directory = run_directory(scratch, name, i, args)
                os.makedirs(directory)
                try:
                    r = (run_target if args.target else run_own)(w, messages, round_args, directory)
                except (RuntimeError, subprocess.CalledProcessError) as e:
                    r = Result(w, messages, errors=[str(e)])
                repeats.append(r)
                log(run_label(i, args) + details(r))
            results.append(median_run(repeats) if args.repeat > 1 else repeats[0])
    except KeyboardInterrupt:
        log("bench: interrupted")
    finally:
        if args.keep:
            log(f"bench: kept {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)

    print()
    print(table(results))
    if args.repeat > 1:
        print()
        label = args.target or ("cubby-maildir" if args.format == "maildir" else "cubby")
        print(spread_table({(label, r.workload.name): r for r in results}))
    if "W2S" in names:
        by_name = {r.workload.name: r for r in results}
        print()
        print("goal (issue 13; Sieve at delivery):")
        print(sieve_goal(by_name.get("W2S"), by_name.get("W2")))
    if args.grow_plan:
        print()
        print(bench_grow.table(results, lambda r: r.expected / r.seconds if r.seconds and ok(r) else None, args))
    print()
    print(provenance(args))
    failed = [r for r in results if r.errors or (r.landed is not None and r.landed != r.expected)]
    return 1 if failed or len(results) < len(runs) else 0


if __name__ == "__main__":
    sys.exit(main())
