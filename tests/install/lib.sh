# Shared by the install, package and Cyrus-move tests (docs/install.md, "Tests"): a temporary
# directory removed at exit, `cmake --install` into it, cubby-master started from the installed
# tree and stopped again, and one message sent over LMTP to a UNIX socket.
# Each script is run by CTest as `<script> <build dir> <source dir>`.
set -euo pipefail

build=$(cd "$1" && pwd)
source_dir=$(cd "$2" && pwd)
# 0755 so that a test client run as nobody can reach the configuration and the socket.
tmp=$(mktemp -d /tmp/cubby-install-XXXXXX)
chmod 0755 "$tmp"
master_pid=
cleanup() {
  if [ -n "$master_pid" ] && kill -0 "$master_pid" 2>/dev/null; then
    kill -TERM "$master_pid" 2>/dev/null || true
    wait "$master_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "SKIP: $*"; exit 77; }   # CTest: SKIP_RETURN_CODE 77
# The install and Cyrus-move tests give the socket to group mail and run a client as nobody:
# without root they are skipped, except under CI (CI set), where they fail.
need_root() {
  [ "$(id -u)" = 0 ] && return 0
  [ -n "${CI:-}" ] && fail "needs root (CI is set)"
  skip "needs root"
}

# cmake --install with the prefix /usr into $tmp/root.
install_tree() {
  DESTDIR="$tmp/root" cmake --install "$build" --prefix /usr >"$tmp/install.log" 2>&1 \
    || { cat "$tmp/install.log" >&2; fail "cmake --install failed"; }
}

# start_master <imapd.conf> <cyrus.conf>: runs the installed master (through /usr/sbin's link) in
# the background, logging to $tmp/master.log, and waits for its ready file.
start_master() {
  "$tmp/root/usr/sbin/cubby-master" -C "$1" -M "$2" -D -r "$tmp/ready" -p "$tmp/master.pid" \
    >"$tmp/master.log" 2>&1 &
  master_pid=$!
  for _ in $(seq 1 100); do
    [ -s "$tmp/ready" ] && return 0
    kill -0 "$master_pid" 2>/dev/null || { cat "$tmp/master.log" >&2; fail "cubby-master exited"; }
    sleep 0.1
  done
  cat "$tmp/master.log" >&2
  fail "cubby-master did not become ready in 10 s"
}

stop_master() {
  kill -TERM "$master_pid"
  local rc=0
  wait "$master_pid" || rc=$?
  master_pid=
  [ "$rc" = 0 ] || { cat "$tmp/master.log" >&2; fail "cubby-master exited $rc on SIGTERM"; }
}

# lmtp_send <socket> <recipient> [prefix...]: one LMTP transaction to the UNIX socket; the prefix
# runs the client (e.g. setpriv as another user). Prints the server's reply to DATA.
lmtp_send() {
  local socket=$1 rcpt=$2
  shift 2
  "$@" /usr/bin/python3 - "$socket" "$rcpt" <<'PY'
import smtplib, sys
socket, rcpt = sys.argv[1], sys.argv[2]
lmtp = smtplib.LMTP(socket)
lmtp.ehlo("install-test")
msg = b"From: a@example.org\r\nTo: " + rcpt.encode() + b"\r\nSubject: installed\r\n\r\nhello\r\n"
refused = lmtp.sendmail("a@example.org", [rcpt], msg)
print("delivered" if not refused else "refused %r" % refused)
lmtp.quit()
PY
}
