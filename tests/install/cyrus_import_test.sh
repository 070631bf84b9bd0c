#!/usr/bin/env bash
# Moving a Cyrus store (docs/guide.md, "Moving a Cyrus store"): a private Cyrus 3.6 (Debian's
# cyrus-common: its master and lmtpd, in a temporary directory, on a UNIX socket only) receives
# 200 messages over LMTP for 20 users, autocreated with a 4 MiB quota and 5 folders, a Sieve
# script filing most of them into the folders. `cubbyctl import-cyrus` then brings the store over;
# every message must be in Cubby under its Cyrus UID, byte-exact, as a hard link of Cyrus's file
# (one inode, link count > 1), every mailbox with Cyrus's uniqueid and UID validity, every quota
# root with Cyrus's limits and usage, and `cubbyctl check` clean. Then Cyrus gets 20 more
# messages, and a second import adds exactly those 20; a third adds nothing.
#
# Needs root (Cyrus's master drops to user cyrus) and Cyrus's tools in /usr/lib/cyrus/bin
# (scripts/install-deps installs cyrus-common). Without them it is skipped, except under CI (CI
# set), where it fails. Cubby runs as user cyrus here (cubby_user: cyrus), as the guide tells a
# moving site, so that Cyrus's files stay readable to both.
. "$(dirname "$0")/lib.sh"
need_root
cyrus_bin=/usr/lib/cyrus/bin
if [ ! -x "$cyrus_bin/master" ] || [ ! -x "$cyrus_bin/lmtpd" ] || [ ! -x "$cyrus_bin/ctl_mboxlist" ] \
   || ! id cyrus >/dev/null 2>&1; then
  [ -n "${CI:-}" ] && fail "Cyrus (cyrus-common) is not installed; scripts/install-deps installs it"
  skip "Cyrus (cyrus-common) is not installed"
fi
command -v python3 >/dev/null || fail "python3 is needed"
cubbyctl="$build/bin/cubbyctl"
[ -x "$cubbyctl" ] || fail "$cubbyctl is not built"

c="$tmp/cyrus"
cyrus_pid=
stop_cyrus() {
  [ -n "$cyrus_pid" ] || return 0
  kill -TERM "$cyrus_pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$cyrus_pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$cyrus_pid" 2>/dev/null || true
  # Children that outlived the master: only those started with our own -C.
  local d
  for d in /proc/[0-9]*; do
    if tr '\0' ' ' 2>/dev/null <"$d/cmdline" | grep -q -- "-C $c/etc/imapd.conf"; then
      kill -KILL "${d#/proc/}" 2>/dev/null || true
    fi
  done
  cyrus_pid=
}
trap 'stop_cyrus; cleanup' EXIT
started=$(date +%s.%N)
phase() { echo "$(python3 -c "import sys; print('%5.1fs' % (float(sys.argv[2]) - float(sys.argv[1])))" "$started" "$(date +%s.%N)") $*"; }

# --- a private Cyrus (the set-up of shared/peers/cyrus.sh, cut down to lmtpd on a socket) ---
mkdir -p "$c"/{etc,config,spool,socket,run/proc,run/lock,sieve,log}
for d in db proc socket log msg user quota lock; do mkdir -p "$c/config/$d"; done
cat >"$c/folders.sieve" <<'EOF'
require ["fileinto"];
if header :is "X-Folder" "Work" { fileinto "INBOX.Work"; }
elsif header :is "X-Folder" "Lists" { fileinto "INBOX.Lists"; }
elsif header :is "X-Folder" "Family" { fileinto "INBOX.Family"; }
elsif header :is "X-Folder" "Travel" { fileinto "INBOX.Travel"; }
elsif header :is "X-Folder" "Archive" { fileinto "INBOX.Archive"; }
EOF
cat >"$c/etc/imapd.conf" <<EOF
configdirectory: $c/config
defaultpartition: default
partition-default: $c/spool
proc_path: $c/run/proc
mboxname_lockpath: $c/run/lock
lmtpsocket: $c/socket/lmtp
idlesocket: $c/socket/idle
notifysocket: $c/socket/notify
sievedir: $c/sieve
sieveusehomedir: false
servername: localhost
altnamespace: no
unixhierarchysep: no
virtdomains: off
hashimapspool: no
mailbox_legacy_dirs: yes
singleinstancestore: yes
duplicatesuppression: no
lmtp_downcase_rcpt: yes
autocreate_post: yes
autocreate_quota: 4096
autocreate_inbox_folders: Work|Lists|Family|Travel|Archive
autocreate_sieve_script: $c/folders.sieve
autocreate_sieve_script_compile: yes
umask: 077
EOF
cat >"$c/etc/cyrus.conf" <<EOF
START {
  recover cmd="ctl_cyrusdb -C $c/etc/imapd.conf -r"
}
SERVICES {
  lmtpunix cmd="lmtpd -C $c/etc/imapd.conf" listen="$c/socket/lmtp" prefork=1 maxchild=8
}
EVENTS {
}
EOF
chown -R cyrus:mail "$c"
setsid "$cyrus_bin/master" -C "$c/etc/imapd.conf" -M "$c/etc/cyrus.conf" -p "$c/run/master.pid" \
  -L "$c/log/master.log" </dev/null >/dev/null 2>&1 &
for _ in $(seq 1 100); do [ -s "$c/run/master.pid" ] && [ -S "$c/socket/lmtp" ] && break; sleep 0.1; done
[ -S "$c/socket/lmtp" ] || fail "Cyrus's master did not open $c/socket/lmtp"
cyrus_pid=$(cat "$c/run/master.pid")

# deliver <first> <count>: messages n = first..first+count-1 to u(n%20), folder by (n/20)%6.
deliver() {
  python3 - "$c/socket/lmtp" "$1" "$2" <<'EOF' || fail "LMTP delivery to Cyrus failed"
import smtplib, sys
sock, first, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
folders = ["", "Work", "Lists", "Family", "Travel", "Archive"]
lmtp = smtplib.LMTP(sock)
for n in range(first, first + count):
    user = "u%d" % (n % 20)
    text = ("From: sender%d@example.org\r\nTo: %s@example.com\r\nSubject: message %d\r\n"
            "Message-ID: <m%d@example.org>\r\n" % (n, user, n, n))
    folder = folders[(n // 20) % 6]
    if folder:
        text += "X-Folder: %s\r\n" % folder
    text += "\r\n" + "".join("line %d of message %d\r\n" % (i, n) for i in range(1 + n % 9))
    refused = lmtp.sendmail("sender%d@example.org" % n, ["%s@example.com" % user], text)
    if refused:
        sys.exit("refused: %r" % refused)
lmtp.quit()
EOF
}
phase "Cyrus started"
deliver 0 200
phase "200 messages delivered to Cyrus"
files=$(find "$c/spool/user" -type f -name '[0-9]*.' | wc -l)
[ "$files" = 200 ] || fail "Cyrus stored $files message files, expected 200"

# --- Cubby, on the same file system, running as Cyrus's user ---
k="$tmp/cubby"
mkdir -p "$k/lib" "$k/spool"
cat >"$k/imapd.conf" <<EOF
configdirectory: $k/lib
partition-default: $k/spool
unixhierarchysep: no
cubby_user: cyrus
cubby_group: mail
EOF
chown -R cyrus:mail "$k"

# compare <expected new messages>: the whole Cubby store against Cyrus's, through Cyrus's tools.
compare() {
  "$cyrus_bin/ctl_mboxlist" -C "$c/etc/imapd.conf" -d >"$tmp/mboxlist.json" || fail "ctl_mboxlist -d"
  "$cyrus_bin/quota" -C "$c/etc/imapd.conf" -J >"$tmp/quota.json" || fail "quota -J"
  python3 - "$c/spool" "$k/spool" "$k/lib/cubby.sqlite" "$tmp/mboxlist.json" "$tmp/quota.json" <<'EOF' \
    || fail "Cubby's store differs from Cyrus's"
import json, os, sqlite3, sys
cyrus_spool, cubby_spool, index, mboxlist, quota = sys.argv[1:6]
db = sqlite3.connect("file:%s?mode=ro" % index, uri=True)
boxes = {name: (mid, uniqueid, uidvalidity, uidnext, d) for mid, name, uniqueid, uidvalidity, uidnext, d
         in db.execute("SELECT id, name, uniqueid, uidvalidity, uidnext, dir FROM mailboxes")}
cyrus = json.load(open(mboxlist))
bad = []
if set(boxes) != set(cyrus):
    bad.append("mailboxes differ: only Cyrus %s, only Cubby %s" % (sorted(set(cyrus) - set(boxes)), sorted(set(boxes) - set(cyrus))))
total = 0
for name, entry in cyrus.items():
    if name not in boxes:
        continue
    mid, uniqueid, uidvalidity, uidnext, d = boxes[name]
    if uniqueid != entry["uniqueid"] or uidvalidity != int(entry["uidvalidity"]):
        bad.append("%s: uniqueid/uidvalidity %s/%s, Cyrus %s/%s" % (name, uniqueid, uidvalidity, entry["uniqueid"], entry["uidvalidity"]))
    cdir = os.path.join(cyrus_spool, name.replace(".", "/"))
    cuids = sorted(int(f[:-1]) for f in os.listdir(cdir) if f.endswith(".") and f[:-1].isdigit())
    rows = {uid: size for uid, size in db.execute("SELECT uid, size FROM messages WHERE mailbox = ?", (mid,))}
    if sorted(rows) != cuids:
        bad.append("%s: Cubby UIDs %s, Cyrus %s" % (name, sorted(rows), cuids))
    if cuids and uidnext <= cuids[-1]:
        bad.append("%s: uidnext %d not above UID %d" % (name, uidnext, cuids[-1]))
    for uid in cuids:
        total += 1
        src = os.path.join(cdir, "%d." % uid)
        dst = os.path.join(cubby_spool, d, "%d." % uid)
        a, b = os.stat(src), os.stat(dst)
        if (a.st_dev, a.st_ino) != (b.st_dev, b.st_ino) or b.st_nlink < 2:
            bad.append("%s: %s is not a hard link of %s" % (name, dst, src))
        if open(src, "rb").read() != open(dst, "rb").read() or rows.get(uid) != a.st_size:
            bad.append("%s: UID %d differs in bytes or size" % (name, uid))
roots = {r: (sl, ml, su, mu) for r, sl, ml, su, mu in db.execute(
    "SELECT name, storage_limit, message_limit, storage_used, message_used FROM quotaroots")}
cq = json.load(open(quota))
for root, res in cq.items():
    want = (res["STORAGE"]["limit"] // 1024 if "limit" in res["STORAGE"] else None,
            res["MESSAGE"].get("limit"), res["STORAGE"]["used"], res["MESSAGE"]["used"])
    if roots.get(root) != want:
        bad.append("quota root %s: Cubby %s, Cyrus %s" % (root, roots.get(root), want))
if set(roots) != set(cq):
    bad.append("quota roots differ: Cubby %s, Cyrus %s" % (sorted(roots), sorted(cq)))
for b in bad[:20]:
    print(b, file=sys.stderr)
print("compared %d messages in %d mailboxes, %d quota roots" % (total, len(cyrus), len(cq)))
sys.exit(1 if bad else 0)
EOF
}

# import <expected added> <expected present>
import_cyrus() {
  "$cubbyctl" -C "$k/imapd.conf" --json import-cyrus --cyrus-config "$c/etc/imapd.conf" \
    >"$tmp/import.json" 2>"$tmp/import.err" || { cat "$tmp/import.json" "$tmp/import.err" >&2; fail "import-cyrus failed"; }
  python3 - "$tmp/import.json" "$1" "$2" <<'EOF' || { cat "$tmp/import.json" >&2; fail "import-cyrus reported other figures"; }
import json, sys
r = json.load(open(sys.argv[1]))
added, present = int(sys.argv[2]), int(sys.argv[3])
ok = (r["messages_added"] == added and r["messages_linked"] == added
      and r["messages_present"] == present and not r["problems"])
print("import: %d mailboxes (%d created), %d added, %d linked, %d already here, %d quota roots"
      % (r["mailboxes"], r["mailboxes_created"], r["messages_added"], r["messages_linked"],
         r["messages_present"], r["quota_roots"]))
sys.exit(0 if ok else 1)
EOF
}

# A dry run changes nothing.
"$cubbyctl" -C "$k/imapd.conf" import-cyrus --cyrus-config "$c/etc/imapd.conf" --dry-run >"$tmp/dry.out" \
  || { cat "$tmp/dry.out" >&2; fail "dry run failed"; }
grep -q "dry run: 120 mailboxes (120 to create), 200 messages to add" "$tmp/dry.out" \
  || { cat "$tmp/dry.out" >&2; fail "dry run: unexpected summary"; }
[ ! -e "$k/lib/cubby.sqlite" ] || [ "$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('SELECT COUNT(*) FROM mailboxes').fetchone()[0])" "$k/lib/cubby.sqlite")" = 0 ] \
  || fail "the dry run created mailboxes"

phase "dry run"
import_cyrus 200 0
phase "imported"
compare
phase "compared"
"$cubbyctl" -C "$k/imapd.conf" check >"$tmp/check.out" 2>&1 || { cat "$tmp/check.out" >&2; fail "cubbyctl check after the import"; }

# Cyrus keeps receiving; the second import brings exactly the new messages, the third nothing.
deliver 200 20
phase "20 more delivered to Cyrus"
import_cyrus 20 200
phase "imported again"
compare
import_cyrus 0 220
phase "compared, imported a third time"
"$cubbyctl" -C "$k/imapd.conf" check >"$tmp/check.out" 2>&1 || { cat "$tmp/check.out" >&2; fail "cubbyctl check after the second import"; }
echo "PASS"
