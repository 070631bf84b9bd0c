#!/usr/bin/env bash
# `cmake --install` lays out the tree docs/install.md describes; the installed cubby-master, started
# through /usr/sbin's link with the installed example configuration (paths moved into a temporary
# root), finds the installed lmtpd, and a message sent to its socket by a user other than root in
# group mail (as Postfix's lmtp(8) in group mail) is filed, before and after a reload (SIGHUP, the
# unit's ExecReload); SIGTERM (the unit's stop) ends the master with 0.
. "$(dirname "$0")/lib.sh"
need_root

install_tree
r="$tmp/root"
for f in usr/lib/cubby/cubby-master usr/lib/cubby/lmtpd usr/lib/cubby/deliver usr/sbin/cubbyctl; do
  [ -x "$r/$f" ] && [ ! -L "$r/$f" ] || fail "$f is not an installed program"
done
[ "$(readlink "$r/usr/sbin/cubby-master")" = ../lib/cubby/cubby-master ] \
  || fail "usr/sbin/cubby-master is not a link to ../lib/cubby/cubby-master"
for f in share/man/man8/cubby-master.8 share/man/man8/lmtpd.8 share/man/man8/deliver.8 \
         share/man/man8/cubbyctl.8 share/man/man5/cubby.conf.5 share/doc/cubby/README.md \
         share/doc/cubby/guide.md share/doc/cubby/install.md share/doc/cubby/options.md \
         share/doc/cubby/examples/imapd.conf share/doc/cubby/examples/cyrus.conf \
         share/doc/cubby/examples/cubby.service share/doc/cubby/examples/postfix-master.cf; do
  [ -f "$r/usr/$f" ] || fail "usr/$f is missing"
done

# The example configuration with its paths moved under $tmp.
mkdir -p "$tmp/etc"
move_paths() { sed -e "s#/var/lib/cubby#$tmp/var/lib/cubby#g" -e "s#/var/spool/cubby#$tmp/var/spool/cubby#g" \
                   -e "s#/run/cubby#$tmp/run/cubby#g" -e "s#/usr/sbin/cubbyctl#$r/usr/sbin/cubbyctl#g" "$1"; }
move_paths "$r/usr/share/doc/cubby/examples/imapd.conf" >"$tmp/etc/imapd.conf"
move_paths "$r/usr/share/doc/cubby/examples/cyrus.conf" >"$tmp/etc/cyrus.conf"
# No cubby user on a build machine: the master then runs as root, with a warning.
if getent passwd cubby >/dev/null; then echo "note: a cubby user exists; the master runs as cubby"; fi

"$r/usr/sbin/cubbyctl" -C "$tmp/etc/imapd.conf" mailbox create user/alice \
  || fail "cubbyctl mailbox create failed"
chmod -R a+rX "$tmp/etc"
start_master "$tmp/etc/imapd.conf" "$tmp/etc/cyrus.conf"
socket="$tmp/run/cubby/socket/lmtp"
[ -S "$socket" ] || fail "no socket at $socket"
mode=$(stat -c '%a %G' "$socket")
[ "$mode" = "660 mail" ] || fail "socket is $mode, expected 660 mail"

# A client that is neither root nor the socket's owner, in group mail (Postfix's lmtp(8)).
reply=$(lmtp_send "$socket" alice@example.org setpriv --reuid=nobody --regid=nogroup --groups=mail)
[ "$reply" = delivered ] || fail "LMTP as nobody in group mail: $reply"
# Without group mail the socket refuses it.
if lmtp_send "$socket" alice@example.org setpriv --reuid=nobody --regid=nogroup --clear-groups \
     >/dev/null 2>&1; then
  fail "nobody outside group mail could connect"
fi
# The unit's ExecReload: SIGHUP reloads and the socket keeps working.
kill -HUP "$master_pid"
for _ in $(seq 1 50); do grep -q "SIGHUP: reloaded" "$tmp/master.log" && break; sleep 0.1; done
grep -q "SIGHUP: reloaded" "$tmp/master.log" || { cat "$tmp/master.log" >&2; fail "no reload"; }
reply=$(lmtp_send "$socket" alice@example.org setpriv --reuid=nobody --regid=nogroup --groups=mail)
[ "$reply" = delivered ] || fail "LMTP after SIGHUP: $reply"
stop_master

files=$(find "$tmp/var/spool/cubby" -type f -name '*.' | wc -l)
[ "$files" = 2 ] || fail "expected 2 message files in the spool, found $files"
for f in $(find "$tmp/var/spool/cubby" -type f -name '*.'); do
  grep -q "Subject: installed" "$f" || fail "the filed message $f is not the one sent"
done
echo "PASS"
