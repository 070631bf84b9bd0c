#!/usr/bin/env bash
# The Debian package on this very machine (docs/install.md, "Tests"): scripts/package builds it,
# lintian reports no error, `dpkg -i` installs it into the real system paths, cubby-master is
# started as the installed cubby.service would start it — its ExecStart run as the unit's User=
# with its groups, environment, umask and directories, since no systemd runs here — and a message
# sent as Postfix would (the user postfix in group mail) through the socket the installed
# configuration names lands in the installed spool, before and after the unit's ExecReload; the
# unit's stop signal ends the master with 0; `dpkg --purge` removes the package, /etc/cubby and
# /var/lib/cubby and keeps the spool and the user cubby that owns it.
# Needs root. Runs in a private copy-on-write view of the machine (tests/install/private_root.sh:
# mount and PID namespaces, / an overlay) when the kernel allows it, so that nothing else running
# here sees the package, the user cubby or the master; otherwise on the machine itself, where it
# refuses a machine that already has a cubby package, user or directory, is skipped while other
# Cubby programs run (a user cubby changes how they behave as root), and at exit puts the machine
# back: the master it started stopped (by its pid), the package purged, and the spool, /run/cubby
# and the user it made removed (dpkg's log and /etc/passwd- keep a trace).
# In a private copy of the machine (private_root.sh) when the kernel allows it, so that nothing
# else running here sees the package come and go; else on the machine itself, guarded below.
here=$(cd "$(dirname "$0")" && pwd)
if [ -z "${CUBBY_PRIVATE_ROOT:-}" ] && [ "$(id -u)" = 0 ] && [ $# = 2 ]; then
  rc=0
  build_dir=$(cd "$1" && pwd) source_dir=$(cd "$2" && pwd)
  CUBBY_PRIVATE_ROOT=1 "$here/private_root.sh" --bind "$here" --bind "$source_dir" --bind "$build_dir" \
    "$here/dpkg_test.sh" "$build_dir" "$source_dir" || rc=$?
  [ "$rc" = 125 ] || exit "$rc"
  echo "note: no private root here (namespaces or overlayfs not allowed): on the machine itself"
fi
. "$here/lib.sh"
need_root
for tool in dpkg-deb lintian setpriv adduser; do
  command -v "$tool" >/dev/null && continue
  [ -n "${CI:-}" ] && fail "$tool is missing (scripts/install-deps installs it)"
  skip "$tool is missing (scripts/install-deps installs it)"
done

# dpkg's state of the package cubby: empty or not-installed when dpkg knows nothing of it.
package_state() { dpkg-query -W -f='${db:Status-Status}' cubby 2>/dev/null || true; }
known_to_dpkg() { local s; s=$(package_state); [ -n "$s" ] && [ "$s" != not-installed ]; }

# Never touch a Cubby that was here before.
busy=
known_to_dpkg && busy="dpkg knows the package cubby ($(package_state))"
getent passwd cubby >/dev/null && busy="the user cubby exists"
getent group cubby >/dev/null && busy="the group cubby exists"
for d in /etc/cubby /var/lib/cubby /var/spool/cubby /run/cubby; do
  [ -e "$d" ] && busy="$d exists"
done
if [ -n "$busy" ]; then
  [ -n "${CI:-}" ] && fail "this machine is not clean: $busy"
  skip "this machine is not clean: $busy"
fi
# Nor disturb a Cubby that runs here from elsewhere (another test, a soak, a benchmark): while the
# user cubby exists, an lmtpd it starts as root refuses to run (docs/master.md, "lmtpd and root")
# and a cubbyctl or cubby-fill run as root switches to cubby. Skipped then, even under CI: the
# test needs the machine to itself (CTest: RUN_SERIAL keeps the suite's other tests away).
others=
for p in /proc/[0-9]*; do
  exe=$(readlink "$p/exe" 2>/dev/null) || continue
  case "${exe##*/}" in
    cubby* | lmtpd) others+=" ${p#/proc/}:$exe" ;;
    deliver) [ -e "${exe%/*}/cubby-master" ] && others+=" ${p#/proc/}:$exe" ;;
  esac
done
[ -z "$others" ] || skip "Cubby programs run on this machine (pid:program):$others"

# From here on the system paths are ours until the end.
lintian_pid=
restore_system() {
  if [ -n "$lintian_pid" ]; then kill "$lintian_pid" 2>/dev/null || true; wait "$lintian_pid" 2>/dev/null || true; fi
  if [ -n "$master_pid" ] && kill -0 "$master_pid" 2>/dev/null; then
    kill -TERM "$master_pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$master_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$master_pid" 2>/dev/null || true
    wait "$master_pid" 2>/dev/null || true
  fi
  master_pid=
  if known_to_dpkg; then
    dpkg --purge cubby >/dev/null 2>&1 || echo "cleanup: dpkg --purge cubby failed" >&2
  fi
  rm -rf /run/cubby /var/spool/cubby /var/lib/cubby /etc/cubby
  # deluser refuses while a process runs as cubby (one that switched to it while it existed):
  # the user goes anyway, since its existence changes how Cubby run as root behaves.
  if getent passwd cubby >/dev/null && ! deluser --system cubby >/dev/null 2>&1; then
    echo "cleanup: processes run as cubby: $(pgrep -u cubby -a | paste -sd';'); removing the user anyway" >&2
    userdel -f cubby >/dev/null 2>&1 || echo "cleanup: userdel -f cubby failed" >&2
  fi
  if getent group cubby >/dev/null; then delgroup --system cubby >/dev/null 2>&1 || true; fi
  cleanup
}
trap restore_system EXIT

# 1. The package, and lintian on it (in the background, for its half minute; read before the purge).
deb=$("$source_dir/scripts/package" --build-dir "$build" --no-build --out "$tmp") \
  || fail "scripts/package failed"
lintian --fail-on error "$deb" >"$tmp/lintian.log" 2>&1 &
lintian_pid=$!

# 2. Installed with dpkg (its Depends are what the build needed, so they are here).
dpkg -i "$deb" >"$tmp/dpkg-i.log" 2>&1 || { cat "$tmp/dpkg-i.log" >&2; fail "dpkg -i failed"; }
[ "$(package_state)" = installed ] || fail "cubby is not installed: $(package_state)"
getent passwd cubby >/dev/null || fail "postinst made no user cubby"
[ "$(getent passwd cubby | cut -d: -f7)" = /usr/sbin/nologin ] || fail "cubby has a login shell"
[ "$(stat -c '%U:%G %a' /var/lib/cubby)" = "cubby:cubby 750" ] || fail "/var/lib/cubby: $(stat -c '%U:%G %a' /var/lib/cubby)"
[ "$(stat -c '%U:%G %a' /var/spool/cubby)" = "cubby:cubby 700" ] || fail "/var/spool/cubby: $(stat -c '%U:%G %a' /var/spool/cubby)"
for f in /etc/cubby/imapd.conf /etc/cubby/cyrus.conf /usr/sbin/cubbyctl /usr/lib/cubby/lmtpd; do
  [ -f "$f" ] || fail "$f is not installed"
done
# Enabled as debhelper's snippets do it (deb-systemd-helper), though no systemd runs here.
if command -v deb-systemd-helper >/dev/null; then
  [ -L /etc/systemd/system/multi-user.target.wants/cubby.service ] || fail "postinst did not enable cubby.service"
fi

# 3. The unit, read as systemd reads it: the [Service] section's Key=Value lines.
unit=/lib/systemd/system/cubby.service
[ -f "$unit" ] || fail "$unit is not installed"
declare -A service=()
environment=()
section=
while IFS= read -r line; do
  case "$line" in
    '#'* | ';'* | '') continue ;;
    '['*']') section=$line; continue ;;
  esac
  [ "$section" = '[Service]' ] || continue
  key=${line%%=*} value=${line#*=}
  case "$key" in
    Environment) environment+=($value) ;;
    EnvironmentFile | ExecStartPre | ExecStartPost | ExecCondition | WorkingDirectory | \
    RootDirectory | DynamicUser | PAMName) fail "$unit: $key is set, which this test does not do as systemd would" ;;
    *) service[$key]=$value ;;
  esac
done <"$unit"

read -ra exec_start <<<"${service[ExecStart]:-}"
[ "${#exec_start[@]}" -gt 0 ] || fail "$unit has no ExecStart"
case "${exec_start[0]}" in /*) ;; *) fail "ExecStart is not a plain absolute path: ${exec_start[0]}" ;; esac
[ "${service[Type]:-simple}" = simple ] || fail "Type=${service[Type]} (the test starts Type=simple)"
user=${service[User]:-}
[ -n "$user" ] && [ "$user" != root ] && [ "$user" != 0 ] || fail "the unit runs ExecStart as root (User=${user:-unset})"
[ "$user" = cubby ] || fail "the unit's User= is $user, not the package's user cubby"
group=${service[Group]:-$(id -gn "$user")}
# systemd: the user's groups (initgroups) plus SupplementaryGroups=.
groups=$(id -Gn "$user" | tr ' ' '\n')
for g in ${service[SupplementaryGroups]:-}; do groups+=$'\n'"$g"; done
groups=$(echo "$groups" | sort -u | paste -sd,)
home=$(getent passwd "$user" | cut -d: -f6)

# RuntimeDirectory= (under /run) and StateDirectory= (under /var/lib): made or given to the user
# with their modes (default 0755) before ExecStart.
for d in ${service[RuntimeDirectory]:-}; do
  install -d -o "$user" -g "$group" -m "${service[RuntimeDirectoryMode]:-0755}" "/run/$d"
done
for d in ${service[StateDirectory]:-}; do
  install -d -m "${service[StateDirectoryMode]:-0755}" "/var/lib/$d"
  chown -R "$user:$group" "/var/lib/$d"
done

# As its user, from /, with umask 0022 (or UMask=), systemd's environment plus Environment=,
# no_new_privs when NoNewPrivileges=yes; stdout and stderr (the journal) to a file.
nnp=()
[ "${service[NoNewPrivileges]:-no}" = yes ] && nnp=(--no-new-privs)
as_unit_user() {
  setpriv --reuid="$user" --regid="$group" --groups="$groups" "${nnp[@]}" "$@"
}
(
  cd /
  umask "${service[UMask]:-0022}"
  exec env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
    HOME="$home" USER="$user" LOGNAME="$user" SHELL=/usr/sbin/nologin "${environment[@]}" \
    setpriv --reuid="$user" --regid="$group" --groups="$groups" "${nnp[@]}" \
    "${exec_start[@]}" </dev/null >"$tmp/master.log" 2>&1
) &
master_pid=$!

# The socket the installed configuration names: the lmtpunix service's listen= in cyrus.conf,
# which imapd.conf's lmtpsocket (deliver's) repeats.
socket=$(sed -n 's/^[[:space:]]*lmtpunix[[:space:]].*listen="\([^"]*\)".*/\1/p' /etc/cubby/cyrus.conf)
[ -n "$socket" ] || fail "no lmtpunix service in /etc/cubby/cyrus.conf"
grep -qx "lmtpsocket: $socket" /etc/cubby/imapd.conf || fail "imapd.conf's lmtpsocket is not $socket"
for _ in $(seq 1 100); do
  [ -S "$socket" ] && break
  kill -0 "$master_pid" 2>/dev/null || { cat "$tmp/master.log" >&2; fail "cubby-master exited"; }
  sleep 0.1
done
[ -S "$socket" ] || { cat "$tmp/master.log" >&2; fail "no socket at $socket after 10 s"; }
[ "$(stat -c '%U %G %a' "$socket")" = "cubby mail 660" ] \
  || fail "socket $socket is $(stat -c '%U %G %a' "$socket"), expected cubby mail 660"

/usr/sbin/cubbyctl mailbox create user/alice >"$tmp/ctl.log" 2>&1 \
  || { cat "$tmp/ctl.log" >&2; fail "cubbyctl mailbox create failed"; }
# As Postfix's lmtp(8) once `adduser postfix mail` is done (docs/install.md, "The Postfix side");
# without Postfix installed, nobody in group mail.
client=nobody client_group=nogroup
if getent passwd postfix >/dev/null; then client=postfix client_group=$(id -gn postfix); fi
send() {
  local reply
  for _ in $(seq 1 50); do   # the first worker may still be starting
    reply=$(lmtp_send "$socket" alice@example.org \
              setpriv --reuid="$client" --regid="$client_group" --groups="$client_group,mail" 2>&1) \
      && break
    sleep 0.1
  done
  [ "$reply" = delivered ] || { cat "$tmp/master.log" >&2; fail "LMTP as $client in group mail: $reply"; }
}
# Messages in user/alice as the installed cubbyctl lists them (a table: a header, one row a UID),
# each checked to be the one sent.
count_messages() {
  local uids
  uids=$(/usr/sbin/cubbyctl message list user/alice | awk '$1 ~ /^[0-9]+$/ {print $1}')
  for uid in $uids; do
    /usr/sbin/cubbyctl message show user/alice "$uid" | grep -q '^Subject: installed' \
      || fail "message $uid in user/alice is not the one sent"
  done
  echo "$uids" | grep -c . || true
}
send
# Everything the master started runs as cubby: the master and its lmtpd.
[ "$(ps -o user= -p "$master_pid" | tr -d ' ')" = cubby ] || fail "the master does not run as cubby"
ps -o user=,comm= --ppid "$master_pid" >"$tmp/children"
grep -q 'lmtpd' "$tmp/children" || { cat "$tmp/master.log" >&2; fail "the master started no lmtpd"; }
grep -v '^cubby ' "$tmp/children" && fail "a child of the master does not run as cubby"
[ "$(count_messages)" = 1 ] || { /usr/sbin/cubbyctl message list user/alice >&2; fail "the message is not in user/alice"; }

# ExecReload, as systemd runs it: $MAINPID replaced, as the unit's user.
reload=${service[ExecReload]:-}
[ -n "$reload" ] || fail "the unit has no ExecReload"
read -ra reload_cmd <<<"${reload//\$MAINPID/$master_pid}"
as_unit_user "${reload_cmd[@]}" || fail "ExecReload failed: ${reload_cmd[*]}"
reloaded=
for _ in $(seq 1 50); do
  if /usr/sbin/cubbyctl status >"$tmp/status" 2>&1 && grep -q 'reloads: 1 (last at .*: ok)' "$tmp/status"; then
    reloaded=1
    break
  fi
  sleep 0.1
done
[ -n "$reloaded" ] || { cat "$tmp/status" "$tmp/master.log" >&2; fail "the master did not report a reload"; }
kill -0 "$master_pid" 2>/dev/null || fail "the master died on ExecReload"
send
[ "$(count_messages)" = 2 ] || fail "the message sent after the reload is not in user/alice"

# Stop: ExecStop if the unit has one, else KillSignal= (SIGTERM) to the master (KillMode=mixed:
# the main process only); it must exit 0 well within TimeoutStopSec.
[ -z "${service[ExecStop]:-}" ] || fail "the unit has an ExecStop, which this test does not run"
[ "${service[KillMode]:-control-group}" = mixed ] || fail "KillMode=${service[KillMode]:-control-group}, expected mixed"
kill -s "${service[KillSignal]:-SIGTERM}" "$master_pid"
rc=0
timeout_at=$((SECONDS + 30))
while kill -0 "$master_pid" 2>/dev/null && [ $SECONDS -lt $timeout_at ]; do sleep 0.1; done
kill -0 "$master_pid" 2>/dev/null && fail "the master did not exit within 30 s of its stop signal"
wait "$master_pid" || rc=$?
master_pid=
[ "$rc" = 0 ] || { cat "$tmp/master.log" >&2; fail "the master exited $rc on its stop signal"; }
pgrep -u cubby >/dev/null && fail "processes of cubby are left after the master exited: $(pgrep -u cubby -a)"
[ -e "$socket" ] && fail "the socket $socket is left after the stop"
# systemd removes RuntimeDirectory= when the service stops.
for d in ${service[RuntimeDirectory]:-}; do rm -rf "/run/$d"; done

lintian_rc=0
wait "$lintian_pid" || lintian_rc=$?
lintian_pid=
if grep -q '^E: ' "$tmp/lintian.log" || [ "$lintian_rc" != 0 ]; then
  cat "$tmp/lintian.log" >&2
  fail "lintian reports errors (or failed: exit $lintian_rc)"
fi

# 4. Purge: the package, its configuration and /var/lib/cubby go; the mail and its owner stay.
files=$(find /var/spool/cubby -type f -name '*.' | wc -l)
[ "$files" = 2 ] || fail "expected 2 message files in /var/spool/cubby, found $files"
dpkg --purge cubby >"$tmp/purge.log" 2>&1 || { cat "$tmp/purge.log" >&2; fail "dpkg --purge failed"; }
known_to_dpkg && fail "dpkg still knows cubby after the purge: $(package_state)"
for p in /etc/cubby /var/lib/cubby /usr/sbin/cubbyctl /usr/sbin/cubby-master /usr/lib/cubby "$unit" \
         /etc/systemd/system/multi-user.target.wants/cubby.service; do
  [ -e "$p" ] || [ -L "$p" ] && fail "$p is left after the purge"
done
grep -q '/var/spool/cubby (the mail) and the user cubby' "$tmp/purge.log" \
  || fail "the purge did not say that it keeps the mail: $(cat "$tmp/purge.log")"
[ "$(find /var/spool/cubby -type f -name '*.' | wc -l)" = 2 ] || fail "the purge touched the mail"
for f in $(find /var/spool/cubby -type f -name '*.'); do
  grep -q "Subject: installed" "$f" || fail "the filed message $f is not the one sent"
done
getent passwd cubby >/dev/null || fail "the purge removed the user cubby, who owns the kept mail"
[ "$(stat -c %U /var/spool/cubby)" = cubby ] || fail "the kept spool lost its owner"
echo "PASS"
