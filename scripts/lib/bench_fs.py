"""scripts/bench --fs: the benchmark's stores on a freshly made file system (issue 14).

This machine's root ext4 has no journal; most servers run journaled ext4 or XFS. With --fs ext4 or
--fs xfs the bench makes an image file (sparse, sized for the run), formats it with mkfs's default
options (ext4: journaled, data=ordered), attaches it to a loop device with direct I/O (so the
file system's writes and flushes reach the disk without a second page cache in between; buffered
when direct I/O is refused, as the provenance line then says), mounts it, and puts its temporary
directory there: every private Cubby store, and with --compare the peers' stores too. --fs tmpfs
mounts a tmpfs instead (no disk: syncs cost nothing, the CPU's ceiling).

The peers' scripts (/work/shared/peers/*.sh) have their stores at fixed paths under /tmp/peers and
no option to move them. So the bench runs in its own mount namespace (unshare --mount, private
propagation: nothing it mounts is seen outside it) and, with --compare, mounts a directory of the
new file system over /tmp/peers there; the Cyrus template is copied in first, if there is one, so
that `cyrus.sh reset` stays fast. The peers the bench starts live in the namespace and see the same
mount. It refuses to start while a peer is running (someone else's benchmark): the peers' TCP
ports are the machine's, and cyrus.sh's stop kills leftover Cyrus processes by their command line
in every namespace, so two --compare runs at once disturb each other, with or without --fs.

Clean-up, also after an error, ^C or SIGTERM: the mounts are undone and the image removed; the loop
device is attached with autoclear, so it is freed when its last mount goes. After a SIGKILL the
mounts and the loop device go with the namespace's last process (once a server the bench started
has ended too); only the image file stays, in /var/tmp/cubby-bench-fs-*.
"""

import os
import shutil
import subprocess
import tempfile

GIB = 1 << 30
NAMESPACE_ENV = "CUBBY_BENCH_NAMESPACE"
KINDS = ("root", "ext4", "xfs", "tmpfs")
PEERS_DIR = "/tmp/peers"
PEERS_SCRIPTS = "/work/shared/peers"


def log(text):
    import sys

    print(text, file=sys.stderr, flush=True)


def enter_namespace(script, argv):
    """Re-runs the bench in a private mount namespace (once); returns only when already inside."""
    if os.environ.get(NAMESPACE_ENV) == "1":
        return
    if os.geteuid() != 0:
        raise SystemExit("bench: --fs needs root (loop devices, mount)")
    if not shutil.which("unshare"):
        raise SystemExit("bench: --fs needs unshare (util-linux)")
    os.environ[NAMESPACE_ENV] = "1"
    import sys

    command = ["unshare", "--mount", "--propagation", "private", "--", sys.executable, script, *argv]
    os.execvp(command[0], command)


def image_bytes(stored_bytes, files):
    """An image size for `stored_bytes` of data in `files` files: three times the data plus 1 GiB,
    and room for the inodes at mkfs.ext4's default of one inode per 16 KiB. The image is sparse:
    only what is written takes disk space."""
    size = 3 * stored_bytes + GIB
    size = max(size, 2 * files * 16384, 2 * GIB)
    return (size + GIB - 1) // GIB * GIB


def run(command, **kwargs):
    return subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True, **kwargs)


def must(command, what):
    out = run(command)
    if out.returncode != 0:
        raise RuntimeError(f"{what}: {' '.join(command)} exited {out.returncode}: {(out.stderr or out.stdout).strip()[-300:]}")
    return out.stdout


class ScratchFileSystem:
    """A fresh file system of `kind` mounted for the bench's temporary directory (a context manager).

    `description` says what was made, for the provenance lines."""

    def __init__(self, kind, size):
        self.kind = kind
        self.size = size
        self.work = None
        self.image = None
        self.mountpoint = None
        self.device = None
        self.peers_mounted = False
        self.description = ""

    def __enter__(self):
        try:
            self._make()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def _make(self):
        # The image lives on the root file system, beside nothing else of ours.
        self.work = tempfile.mkdtemp(prefix="cubby-bench-fs-", dir="/var/tmp")
        self.mountpoint = os.path.join(self.work, "mnt")
        os.makedirs(self.mountpoint)
        if self.kind == "tmpfs":
            must(["mount", "-t", "tmpfs", "-o", f"size={self.size},mode=0755", "cubby-bench", self.mountpoint], "mount tmpfs")
            self.description = f"tmpfs of {self.size // GIB} GiB (no disk: syncs cost nothing)"
            return
        self.image = os.path.join(self.work, f"{self.kind}.img")
        with open(self.image, "wb") as f:
            f.truncate(self.size)
        if self.kind == "ext4":
            must(["mkfs.ext4", "-q", "-F", self.image], "mkfs.ext4")
            features = run(["dumpe2fs", "-h", self.image]).stdout
            if "has_journal" not in features:
                raise RuntimeError("mkfs.ext4 made a file system without a journal (check /etc/mke2fs.conf)")
        elif self.kind == "xfs":
            if not shutil.which("mkfs.xfs"):
                raise RuntimeError("mkfs.xfs not found: xfsprogs is not installed (scripts/install-deps installs it)")
            must(["mkfs.xfs", "-q", "-f", self.image], "mkfs.xfs")
        # mount -o loop attaches with autoclear: the loop device goes with the last mount.
        must(["mount", "-o", "loop", "-t", self.kind, self.image, self.mountpoint], f"mount the {self.kind} image")
        self.device = must(["findmnt", "-n", "-o", "SOURCE", "--mountpoint", self.mountpoint], "findmnt").strip()
        direct = run(["losetup", "--direct-io=on", self.device]).returncode == 0
        options = must(["findmnt", "-n", "-o", "OPTIONS", "--mountpoint", self.mountpoint], "findmnt").strip()
        self.description = (f"fresh {self.kind} ({'journaled, ' if self.kind == 'ext4' else ''}mkfs defaults) on {self.device}, "
                            f"{'direct I/O' if direct else 'buffered (direct I/O refused)'}, image {self.size // GIB} GiB sparse in {self.work}; "
                            f"mount options {options}")

    def scratch(self):
        """A new temporary directory on the file system."""
        return tempfile.mkdtemp(prefix="cubby-bench-", dir=self.mountpoint)

    def take_peers(self):
        """--compare: the peers' stores (/tmp/peers) on this file system, seen in this namespace only.
        Refused while a peer runs: it is someone else's (another benchmark), its TCP ports would
        clash with ours, and its store would be hidden from its own scripts here."""
        running = [s for s in ("cyrus.sh", "dovecot.sh") if run([f"{PEERS_SCRIPTS}/{s}", "status"]).returncode == 0]
        if running:
            raise RuntimeError(f"a peer is running ({', '.join(running)} status): another benchmark? "
                               f"Wait for it, or stop it with {PEERS_SCRIPTS}/<peer>.sh stop")
        target = os.path.join(self.mountpoint, "peers")
        os.makedirs(target)
        os.chmod(target, 0o755)
        template = os.path.join(PEERS_DIR, "cyrus.template")
        if os.path.isdir(template):
            must(["cp", "-a", template, os.path.join(target, "cyrus.template")], "copying the Cyrus template")
        os.makedirs(PEERS_DIR, exist_ok=True)
        must(["mount", "--bind", target, PEERS_DIR], f"bind-mounting {target} on {PEERS_DIR}")
        self.peers_mounted = True
        self.description += f"; {PEERS_DIR} (the peers' stores) bind-mounted from it in the bench's own mount namespace"

    def close(self, keep=False):
        """Undoes everything made, in reverse; safe to call twice. With `keep` the image file stays
        (mount -o loop IMAGE DIR to look at it)."""
        if self.peers_mounted:
            for script in ("cyrus.sh", "dovecot.sh"):  # nothing may hold the mount
                run([f"{PEERS_SCRIPTS}/{script}", "stop"])
            self._umount(PEERS_DIR)
            self.peers_mounted = False
        if self.mountpoint and os.path.ismount(self.mountpoint):
            self._umount(self.mountpoint)
        if self.device and self.image and self.image in run(["losetup", "-n", "-O", "BACK-FILE", self.device]).stdout:
            run(["losetup", "-d", self.device])  # autoclear did not (an older kernel): by hand
        self.device = None
        if self.work and keep and self.image:
            log(f"bench: kept the {self.kind} image {self.image} (mount -o loop {self.image} DIR to look)")
        elif self.work:
            shutil.rmtree(self.work, ignore_errors=True)
        self.work = None

    def _umount(self, path):
        if run(["umount", path]).returncode != 0:
            log(f"bench: umount {path} failed (busy?); detaching it lazily")
            run(["umount", "-l", path])


def estimate(workloads, grow, compare):
    """(bytes, files) a run may store at once: `workloads` as (messages, size, recipients, grown)
    tuples, each private store kept to the end of the run; `grow` (mailboxes, messages,
    recipients), the size of each grown store; with `compare` the peers' stores besides."""
    stored = files = 0
    for messages, size, recipients, grown in workloads:
        # One inode per message (hard links), blocks rounded to 4 KiB, plus the index's rows.
        stored += messages * (max(size, 4096) + recipients * 512)
        files += messages + recipients + 16
        if grown and grow:
            mailboxes, rows, per_message = grow
            stored += rows // max(per_message, 1) * 4096 + rows * 300 + mailboxes * 12288
            files += rows // max(per_message, 1) + 3 * mailboxes
    if compare:
        stored *= 3  # Cyrus and Dovecot keep theirs too (reset per workload: an overestimate)
        files = files * 3 + 4000  # the peers' 1100 mailboxes
    return stored, files


def open_scratch(kind, workloads, grow, compare, keep, describe):
    """The bench's temporary directory: on the root file system (`root`), or on a fresh file
    system of `kind` (the process must run in its own mount namespace: enter_namespace()),
    unmounted and removed at exit (atexit: after main() returns, raises or is interrupted).
    `describe` receives the provenance text."""
    import atexit

    if kind == "root":
        scratch = tempfile.mkdtemp(prefix="cubby-bench-")
        where = run(["findmnt", "-n", "-o", "SOURCE,FSTYPE,OPTIONS", "-T", scratch]).stdout.strip()
        journal = ""
        source = where.split()[0] if where else ""
        if "ext4" in where and source.startswith("/dev/"):
            has = "has_journal" in run(["dumpe2fs", "-h", source]).stdout
            journal = ", with a journal" if has else ", no journal"
        describe(f"{os.path.dirname(scratch)} on the root file system ({where or '?'}{journal})")
        return scratch
    stored, files = estimate(workloads, grow, compare)
    fs = ScratchFileSystem(kind, image_bytes(stored, files))
    try:
        fs.__enter__()
    except RuntimeError as e:
        raise SystemExit(f"bench: --fs {kind}: {e}")
    atexit.register(fs.close, keep)
    if compare:
        try:
            fs.take_peers()
        except RuntimeError as e:
            raise SystemExit(f"bench: --fs {kind} --compare: {e}")
    describe(fs.description)
    return fs.scratch()
