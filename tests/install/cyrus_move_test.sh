#!/usr/bin/env bash
# A Cyrus site's configuration moved over as it is: Debian 12's own /etc/imapd.conf and
# /etc/cyrus.conf (cyrus-common 3.6.1, vendored in tests/master/fixtures/) with only their paths
# moved into a temporary directory, plus the one line docs/guide.md tells a moving site to change
# (the lmtpunix entry gets `mode=0660 group=mail`). The installed cubby-master starts, warns once
# for each service, START and EVENTS entry that runs a Cyrus program Cubby does not provide, runs
# the lmtpunix service, and a client in group mail (as Postfix) delivers through its socket.
. "$(dirname "$0")/lib.sh"
need_root

install_tree
fixtures="$source_dir/tests/master/fixtures"
c="$tmp/cyrus"
mkdir -p "$c/etc"
move_paths() {
  sed -e "s#/var/lib/cyrus#$c/var/lib/cyrus#g" -e "s#/run/cyrus#$c/run/cyrus#g" \
      -e "s#/var/spool/cyrus#$c/var/spool/cyrus#g" -e "s#/var/spool/sieve#$c/var/spool/sieve#g" \
      -e "s#/var/spool/news#$c/var/spool/news#g" "$1"
}
move_paths "$fixtures/debian-imapd.conf" >"$c/etc/imapd.conf"
move_paths "$fixtures/debian-cyrus.conf" >"$c/etc/cyrus.conf"
# The one line (docs/guide.md, "Moving from Cyrus").
sed -i 's#^\(\s*lmtpunix\s.*maxchild=20\)$#\1 mode=0660 group=mail#' "$c/etc/cyrus.conf"
grep -q 'lmtpunix.*mode=0660 group=mail' "$c/etc/cyrus.conf" || fail "the lmtpunix line was not found"
chmod -R a+rX "$c/etc"

# Debian's imapd.conf: unixhierarchysep: no, so mailboxes are named with dots.
"$tmp/root/usr/sbin/cubbyctl" -C "$c/etc/imapd.conf" mailbox create user.bob \
  || fail "cubbyctl mailbox create failed"
start_master "$c/etc/imapd.conf" "$c/etc/cyrus.conf"

expect_warning() {
  grep -q "$1" "$tmp/master.log" || { cat "$tmp/master.log" >&2; fail "no warning: $1"; }
  [ "$(grep -c "$1" "$tmp/master.log")" = 1 ] || fail "more than one warning: $1"
}
for s in imap:imapd pop3:pop3d nntp:nntpd http:httpd sieve:timsieved notify:notifyd; do
  expect_warning "service \"${s%%:*}\" skipped: it runs Cyrus's ${s##*:}, which Cubby does not provide"
done
expect_warning "START \"recover\" skipped: it runs Cyrus's ctl_cyrusdb"
expect_warning "START \"delprune\" skipped: it runs Cyrus's expire"
expect_warning "START \"tlsprune\" skipped: it runs Cyrus's tls_prune"
for e in checkpoint:ctl_cyrusdb delprune:expire tlsprune:tls_prune deleteprune:expire expungeprune:expire; do
  expect_warning "EVENTS \"${e%%:*}\" skipped: it runs Cyrus's ${e##*:}"
done

# The master says when Postfix could not reach the socket (postfix not in group mail here).
if id postfix >/dev/null 2>&1 && ! id -nG postfix | grep -qw mail; then
  expect_warning "service \"lmtpunix\": postfix (uid $(id -u postfix)) cannot connect to $c/run/cyrus/socket/lmtp: the socket is 0660 root:mail"
fi
socket="$c/run/cyrus/socket/lmtp"
reply=$(lmtp_send "$socket" bob@example.org setpriv --reuid=nobody --regid=nogroup --groups=mail)
[ "$reply" = delivered ] || fail "LMTP as nobody in group mail: $reply"
stop_master
files=$(find "$c/var/spool/cyrus/mail" -type f -name '*.' | wc -l)
[ "$files" = 1 ] || fail "expected 1 message file in the spool, found $files"
echo "PASS"
