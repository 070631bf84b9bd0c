#!/usr/bin/env bash
# scripts/package builds a .deb from the build (without rebuilding) whose contents, conffiles,
# Depends and maintainer scripts are what docs/install.md promises. Skipped without dpkg-deb.
. "$(dirname "$0")/lib.sh"
command -v dpkg-deb >/dev/null || skip "dpkg-deb is missing (apt-get install dpkg)"

deb=$("$source_dir/scripts/package" --build-dir "$build" --no-build --out "$tmp") \
  || fail "scripts/package failed"
[ -f "$deb" ] || fail "scripts/package printed $deb, which is not a file"

dpkg-deb -c "$deb" >"$tmp/contents"
for f in ./usr/lib/cubby/cubby-master ./usr/lib/cubby/lmtpd ./usr/lib/cubby/deliver \
         ./usr/sbin/cubbyctl ./etc/cubby/imapd.conf ./etc/cubby/cyrus.conf \
         ./lib/systemd/system/cubby.service ./usr/share/man/man8/cubby-master.8.gz ./usr/share/doc/cubby/copyright \
         ./usr/share/doc/cubby/changelog.gz \
         ./usr/share/doc/cubby/install.md ./usr/share/doc/cubby/examples/cyrus.conf; do
  grep -q " $f\$" "$tmp/contents" || fail "$f is not in the package"
done
grep -q ' ./usr/sbin/cubby-master -> ../lib/cubby/cubby-master$' "$tmp/contents" \
  || fail "no link usr/sbin/cubby-master"
grep -q ' root/root .* ./usr/lib/cubby/lmtpd$' "$tmp/contents" || fail "files are not root's"
grep -q -- '-rwxr-xr-x .* ./usr/lib/cubby/lmtpd$' "$tmp/contents" || fail "lmtpd is not 0755"

dpkg-deb -f "$deb" Package Version Architecture >"$tmp/fields"
grep -qx 'Package: cubby' "$tmp/fields" || fail "Package is not cubby"
depends=$(dpkg-deb -f "$deb" Depends)
echo "$depends" | grep -q '^adduser, ' || fail "Depends lacks adduser: $depends"
for p in libc6 libsqlite3-0 libxxhash0 libsasl2-2 libssl3 libstdc++6; do
  echo "$depends" | grep -q "\\b$p (>= " || fail "Depends lacks $p: $depends"
done

dpkg-deb -e "$deb" "$tmp/control"
[ "$(cat "$tmp/control/conffiles")" = "$(printf '/etc/cubby/imapd.conf\n/etc/cubby/cyrus.conf')" ] \
  || fail "conffiles: $(cat "$tmp/control/conffiles")"
for s in postinst prerm postrm; do
  [ -x "$tmp/control/$s" ] || fail "no executable $s"
  sh -n "$tmp/control/$s" || fail "$s is not valid sh"
done
grep -q 'adduser --system --group' "$tmp/control/postinst" || fail "postinst makes no system user"
grep -q 'rm -rf /var/spool' "$tmp/control/postrm" && fail "postrm removes the spool"

# The unit starts the master the way the install test ran it.
mkdir "$tmp/unit"
unit="$tmp/unit/cubby.service"
dpkg-deb --fsys-tarfile "$deb" | tar -xO ./lib/systemd/system/cubby.service >"$unit"
grep -qx 'ExecStart=/usr/sbin/cubby-master -C /etc/cubby/imapd.conf -M /etc/cubby/cyrus.conf' \
  "$unit" || fail "unexpected ExecStart"
grep -qx 'ExecReload=/bin/kill -HUP $MAINPID' "$unit" || fail "no SIGHUP reload"
if command -v systemd-analyze >/dev/null; then
  # The package is not installed here: the program and its man page are missing; nothing else
  # may be reported.
  complaints=$(systemd-analyze verify "$unit" 2>&1 |
               grep -v 'is not executable: No such file\|man cubby-master(8). failed' || true)
  [ -z "$complaints" ] || fail "systemd-analyze verify: $complaints"
fi
if command -v lintian >/dev/null; then
  lintian --fail-on error "$deb" || fail "lintian reports errors"
else
  echo "note: lintian is not installed; not run"
fi
echo "PASS"
