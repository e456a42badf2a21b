#!/bin/bash
# Finish a debootstrap'ed Debian tree before it is tarred and imported as an image layer:
# security updates, apt sources for later use, and no host identity or caches left inside.
# Usage: rootfs-post.sh ROOT FLAVOUR SUITE MIRROR SECURITY_MIRROR   (run as root by scripts/images)
set -o errexit -o nounset -o pipefail
root=$1 flavour=$2 suite=$3 mirror=$4 security=$5

cat > "$root/etc/apt/sources.list" <<SOURCES
deb $mirror $suite main
deb $mirror $suite-updates main
deb $security $suite-security main
SOURCES

# no service may start inside the chroot
printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
chmod 0755 "$root/usr/sbin/policy-rc.d"
mount -t proc proc "$root/proc"
trap 'umount "$root/proc" 2>/dev/null || umount -l "$root/proc" 2>/dev/null || true' EXIT

export DEBIAN_FRONTEND=noninteractive LC_ALL=C
chroot "$root" apt-get update -q
chroot "$root" apt-get -y -q -o Dpkg::Options::=--force-confold upgrade
chroot "$root" apt-get clean
chroot "$root" dpkg-query -W -f '${Package} ${Version}\n' > "$root/.packages.txt"
mv "$root/.packages.txt" "$root/usr/share/msc-rootfs-packages.txt"
rm -f "$root/usr/sbin/policy-rc.d"
umount "$root/proc"

# caches, docs and logs: not needed in a node, and they make the image larger
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
       "$root"/var/cache/debconf/*-old "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* \
       "$root"/var/log/* "$root"/tmp/* "$root"/var/tmp/*
find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name 'locale.alias' -exec rm -rf {} + 2>/dev/null || true

# host identity: docker provides hostname, hosts and resolv.conf; the node entrypoint makes a machine-id
: > "$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id" "$root/etc/hostname"
: > "$root/etc/resolv.conf"

echo "rootfs $flavour: $(chroot "$root" dpkg-query -W | wc -l) packages, $(du -sxm "$root" | cut -f1) MB"
