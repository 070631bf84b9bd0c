#!/usr/bin/env bash
# private_root.sh [--bind DIR]... <command> [args...]: runs the command as root in a private copy of this machine:
# new mount and PID namespaces whose / is an overlay over the real / (everything written goes to a
# temporary upper layer in /dev/shm, removed afterwards), with a fresh /proc, /run and /tmp and
# the real /dev and /sys. Each --bind DIR (an absolute path) is the real DIR at the same place
# inside, writable: the checkout and the build, which may well live under /tmp. dpkg_test.sh uses it so that installing the package (a user cubby,
# /usr, /etc, dpkg's database) is seen by nothing else on the machine and vanishes at exit; the
# processes it starts die with the namespace. Exits with the command's status, or 125 when the
# kernel or the container does not allow the namespaces or the overlay (the caller then decides).
set -euo pipefail
binds=()
while [ "${1:-}" = --bind ]; do
  case "$2" in /*) ;; *) echo "private_root.sh: --bind needs an absolute path: $2" >&2; exit 2 ;; esac
  binds+=("$2")
  shift 2
done
[ "$(id -u)" = 0 ] || exit 125
command -v unshare >/dev/null || exit 125
unshare --mount --pid --fork --propagation private true 2>/dev/null || exit 125
layers=$(mktemp -d /dev/shm/cubby-private-root-XXXXXX) || exit 125
mkdir "$layers/upper" "$layers/work" "$layers/root"
rc=0
unshare --mount --pid --fork --propagation private bash -c '
  layers=$1; nbinds=$2; shift 2
  binds=("${@:1:$nbinds}"); shift "$nbinds"
  mount -t overlay overlay -o "lowerdir=/,upperdir=$layers/upper,workdir=$layers/work" \
    "$layers/root" 2>/dev/null || exit 125
  mount -t proc proc "$layers/root/proc" &&
  mount --rbind /dev "$layers/root/dev" &&
  mount --rbind /sys "$layers/root/sys" &&
  mount -t tmpfs -o mode=0755 tmpfs "$layers/root/run" &&
  mount -t tmpfs -o mode=1777 tmpfs "$layers/root/tmp" || exit 125
  for dir in "${binds[@]}"; do
    mkdir -p "$layers/root$dir" && mount --bind "$dir" "$layers/root$dir" || exit 125
  done
  cd "$layers/root"
  exec chroot "$layers/root" "$@"
' private-root "$layers" "${#binds[@]}" "${binds[@]}" "$@" || rc=$?
rm -rf "$layers"
exit "$rc"
