"""scripts/bench --front-end: what the LMTP front end costs, and how delivery grows with back ends
(issue 16; docs/scale-out.md).

Each chosen workload (default W2) runs three times, every time on fresh stores:
  direct     smtp-source -> one Cubby back end (`lmtpd -a` on a loopback TCP port);
  fe->1      smtp-source -> a front end (`lmtpd -P -a`, its own cubby-master) -> that one back end;
  fe->3      smtp-source -> the front end -> three back ends, the workload's users spread over them
             round robin, so every message of W2 (10 recipients) is split 4/3/3.
One private PostgreSQL cluster holds the mailbox directory for the whole run (initdb and pg_ctl in
a temporary directory of its own, run as `nobody` under root, loopback port, fsync off as in the tests: the
front end only reads it, and its cache answers all but the first lookup of each user). Every
process runs on this machine, the driver too: with two cores, fe->3 shows the cost of the extra
hop, not the capacity of three machines. Hence the projection printed under the table.

Figures, beyond bench.py's (deliveries/s, fsyncs/msg summed over the back ends, landed):
  fe CPU/dlv   user + system CPU time of the front end's master and workers over the run (from
               /proc/<pid>/stat, reaped children included through the master's cutime/cstime),
               per delivery;
  be CPU/dlv   the same summed over the back ends;
  fe RSS       the largest VmHWM of one front-end worker.
CPU times come in clock ticks (10 ms): run at a scale where a path takes seconds (the default).
The projection: one front-end core forwards at most 1 / (fe CPU/dlv) deliveries/s; a back end on a
machine of its own delivers what the direct row does on this one (less the driver's share); so N
back ends behind F front-end cores deliver about min(N x direct, F / fe CPU/dlv) while the
directory lookups stay cached and the network is not the bound.
"""

import dataclasses
import os
import shlex
import shutil
import socket
import subprocess
import tempfile
import time

PG_BIN_DIRS = ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/17/bin")
PATHS = (("direct", 0), ("fe->1", 1), ("fe->3", 3))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgCluster:
    """A private PostgreSQL cluster in a temporary directory of its own (as tests/pg/pg_cluster.h
    makes one): not under the scratch directory, which is root's and closed to `nobody`."""

    def __init__(self):
        self.bin = next((d for d in PG_BIN_DIRS if os.access(os.path.join(d, "pg_ctl"), os.X_OK)), None)
        if self.bin is None:
            raise RuntimeError("PostgreSQL is not installed (scripts/install-deps installs it)")
        self.dir = tempfile.mkdtemp(prefix="cubby-bench-pg-")
        if os.geteuid() == 0:
            os.chown(self.dir, 65534, 65534)  # initdb refuses root: the cluster belongs to nobody
        self.port = free_port()
        self.running = False

    def run(self, command):
        full = command if os.geteuid() != 0 else ["runuser", "-u", "nobody", "--"] + command
        out = subprocess.run(full, cwd=self.dir, stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(f"{shlex.join(command)} failed ({out.returncode}): {(out.stdout + out.stderr).strip()[-400:]}")

    def start(self):
        data = os.path.join(self.dir, "data")
        self.run([f"{self.bin}/initdb", "-D", data, "-A", "trust", "-U", "cubby", "-E", "UTF8", "--no-sync", "--no-instructions"])
        options = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off")
        self.run([f"{self.bin}/pg_ctl", "-D", data, "-l", os.path.join(self.dir, "server.log"), "-w", "-t", "60", "-o", options, "start"])
        self.running = True

    def stop(self):
        """Stops the cluster and removes its directory."""
        try:
            if self.running:
                self.running = False
                self.run([f"{self.bin}/pg_ctl", "-D", os.path.join(self.dir, "data"), "-m", "fast", "-w", "-t", "60", "stop"])
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def conninfo(self):
        return f"host=127.0.0.1 port={self.port} user=cubby dbname=postgres"


def rename_server(instance, name):
    """Sets `servername` (each server names itself in its replies)."""
    with open(instance.settings) as f:
        lines = [f"servername: {name}\n" if line.startswith("servername:") else line for line in f]
    with open(instance.settings, "w") as f:
        f.writelines(lines)


def front_end(bench, directory, conninfo):
    """A private cubby-master whose only service is `lmtpd -P -a` on a loopback port."""
    port = free_port()
    instance = bench.CubbyInstance(directory, [], 0, False)
    rename_server(instance, "fe.localhost")
    with open(instance.settings, "a") as f:
        f.write(f"directory_backend: postgresql\ndirectory_conninfo: {conninfo}\ndirectory_cache_seconds: 30s\n")
    with open(instance.services, "w") as f:
        f.write("# Cubby front end written by scripts/bench --front-end\nSERVICES {\n"
                f'  lmtpfe cmd="lmtpd -P -a" listen="127.0.0.1:{port}" prefork=1\n}}\n')
    instance.target = f"127.0.0.1:{port}"
    return instance


@dataclasses.dataclass
class Row:
    path: str
    result: object  # bench.Result
    fe_cpu: float | None = None
    be_cpu: float | None = None
    fe_rss_kib: int | None = None


def run_path(bench, w, messages, args, directory, path, backends, pg):
    """One workload over one path; returns a Row."""
    result = bench.Result(w, messages)
    users = bench.mailbox_users(w.recipients)
    count = max(backends, 1)
    homes = {u: i % count for i, u in enumerate(users)}
    instances = [bench.CubbyInstance(os.path.join(directory, f"be{b}"), [u for u in users if homes[u] == b],
                                     free_port(), not args.no_strace) for b in range(count)]
    for b, instance in enumerate(instances):
        rename_server(instance, f"be{b}.localhost")
    fe = front_end(bench, os.path.join(directory, "fe"), pg.conninfo) if backends else None
    row = Row(path, result)
    started = []
    try:
        for instance in instances:
            instance.start()
            started.append(instance)
        if fe:
            for u in users:
                fe.cubbyctl("directory", "set", u, instances[homes[u]].target, "default")
            fe.start()
            started.append(fe)
        target = fe.target if fe else instances[0].target
        stores = [i.store() for i in instances]
        landed0 = [s.messages() for s in stores]
        cpu0 = [bench.tree_cpu(i.master) for i in instances]
        fe_cpu0 = bench.tree_cpu(fe.master) if fe else None
        sampler = bench.RssSampler(fe.master) if fe else None
        since = time.time()
        result.seconds = bench.drive(result, bench.smtp_source_command(w, messages, target, args.reuse), args.timeout)
        if sampler:
            sampler.stop()
            row.fe_rss_kib = sampler.peak_kib
        time.sleep(0.5)  # the last replies are out; let the back ends' committers go quiet
        row.be_cpu = sum(bench.tree_cpu(i.master) - c for i, c in zip(instances, cpu0))
        row.fe_cpu = bench.tree_cpu(fe.master) - fe_cpu0 if fe else None
    finally:
        for instance in reversed(started):
            instance.stop()
    syncs = {}
    for instance in instances:
        if instance.trace:
            for k, v in instance.trace.counts(since).items():
                syncs[k] = syncs.get(k, 0) + v
    result.syncs = syncs if not args.no_strace else None
    landed = [s.messages() for s in stores]
    result.landed = sum(l[0] - l0[0] for l, l0 in zip(landed, landed0))
    result.inodes = sum(l[1] - l0[1] for l, l0 in zip(landed, landed0))
    for instance in instances:
        check = instance.cubbyctl("check", check=False)
        if check.returncode != 0:
            result.errors.append(f"cubbyctl check on {instance.dir} exited {check.returncode}: {(check.stdout + check.stderr).strip()[:300]}")
    return row


def per_delivery_ms(seconds, r):
    return None if seconds is None or not r.expected else 1000 * seconds / r.expected


def table(bench, rows_by_workload):
    header = ["workload", "path", "msgs", "seconds", "deliveries/s", "vs direct", "inodes/msg", "fsyncs/msg",
              "fe CPU/dlv", "be CPU/dlv", "fe RSS"]
    lines = []
    for name, rows in rows_by_workload.items():
        direct = next((bench.rate(r.result, True) for r in rows if r.path == "direct"), None)
        for row in rows:
            r = row.result
            speed = bench.rate(r, True)
            syncs = bench.fsyncs_per_msg(r)
            fe, be = per_delivery_ms(row.fe_cpu, r), per_delivery_ms(row.be_cpu, r)
            lines.append([
                name, row.path + ("" if bench.ok(r) else " FAILED"), str(r.messages), f"{r.seconds:.2f}",
                "-" if speed is None else f"{speed:.0f}", bench.ratio(speed, direct),
                "-" if r.inodes is None or not r.messages else f"{r.inodes / r.messages:.2f}",
                "-" if syncs is None else f"{syncs:.2f}",
                "-" if fe is None else f"{fe:.3f} ms", "-" if be is None else f"{be:.3f} ms",
                "-" if row.fe_rss_kib is None else bench.human_bytes(row.fe_rss_kib * 1024),
            ])
    widths = [max(len(x) for x in column) for column in zip(header, *lines)]
    fmt = lambda cells: "  ".join(c.ljust(n) if i < 2 else c.rjust(n) for i, (c, n) in enumerate(zip(cells, widths))).rstrip()
    return "\n".join([fmt(header), fmt(["-" * n for n in widths])] + [fmt(line) for line in lines])


def projection(bench, rows_by_workload):
    out = []
    for name, rows in rows_by_workload.items():
        by_path = {row.path: row for row in rows}
        direct = by_path.get("direct")
        d = bench.rate(direct.result, True) if direct else None
        for path in ("fe->1", "fe->3"):
            row = by_path.get(path)
            if row is None or not bench.ok(row.result) or not row.fe_cpu:
                continue
            fe = row.fe_cpu / row.result.expected
            line = (f"  {name} {path}: the front end spends {1000 * fe:.3f} ms of CPU per delivery, so one front-end core "
                    f"forwards up to {1 / fe:.0f} deliveries/s")
            if d:
                line += (f"; with back ends on machines of their own (each delivering what `direct` does here, {d:.0f}/s), "
                         f"N back ends behind F front-end cores: about min(N x {d:.0f}, F x {1 / fe:.0f}) deliveries/s")
            out.append(line)
    return "\n".join(out) if out else "  (no front-end row finished)"


def run(bench, args, names, scratch):
    """--front-end: each workload over every path of PATHS; prints the table and the projection."""
    rows_by_workload = {}
    pg = PgCluster()
    try:
        pg.start()
        for name in names:
            w = bench.WORKLOADS[name]
            messages = max(1, round(w.messages * args.scale))
            rows = rows_by_workload.setdefault(name, [])
            for path, backends in PATHS:
                directory = os.path.join(scratch, name, path.replace(">", ""))
                os.makedirs(directory)
                bench.log(f"bench: --front-end: {name} {path}")
                try:
                    row = run_path(bench, w, messages, args, directory, path, backends, pg)
                except (RuntimeError, subprocess.CalledProcessError) as e:
                    row = Row(path, bench.Result(w, messages, errors=[str(e)]))
                rows.append(row)
                bench.log(f"[{path}] " + bench.details(row.result))
    except KeyboardInterrupt:
        bench.log("bench: interrupted")
    finally:
        try:
            pg.stop()
        except RuntimeError as e:
            bench.log(f"bench: {e}")
    print()
    print(table(bench, rows_by_workload))
    print()
    print("projection (issue 16; every process here shares 2 cores with the driver):")
    print(projection(bench, rows_by_workload))
    print()
    print(bench.provenance(args))
    print("paths: direct = smtp-source to one back end (lmtpd -a, TCP); fe->N = through a front end (lmtpd -P -a, TCP) "
          "to N back ends, the directory in a private PostgreSQL (fsync off), users spread round robin")
    failed = [row for rows in rows_by_workload.values() for row in rows if not bench.ok(row.result)]
    return 1 if failed else 0
