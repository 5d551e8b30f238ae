#!/usr/bin/env bash
# update.sh HOST IMAGE
#
# Updates a running console over the network from IMAGE (a base image of
# make image-base, or any image make image wrote), the way gokrazy's own
# updater does: the root file system goes to the root partition not in
# use, the boot partition and the MBR's boot code are replaced, then the
# console switches to the new root and reboots (consoled gets SIGTERM and
# logs off cleanly first). /perm, with the config, the key and the shows,
# is not touched. HOST is the console's address (host, or host:port of
# gokrazy's web server, port 80). The password is the one monogok built
# into the image, kept on the machine that built it, or $GOKRAZY_PASSWORD.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 HOST IMAGE" >&2; exit 2; }
host=$1 img=$2
conf=${XDG_CONFIG_HOME:-$HOME/.config}/gokrazy
pw=${GOKRAZY_PASSWORD:-$(cat "$conf/hosts/console/http-password.txt" 2> /dev/null || cat "$conf/http-password.txt")}

# Partition n's first byte, from its GPT entry (see perm.sh).
start() { echo $(($(od -An -t u8 -j $((1024 + ($1 - 1) * 128 + 32)) -N 8 "$img" | tr -d ' ') * 512)); }
boot=$(start 1) root=$(start 2)
# Only the file systems, not the partitions' empty rest: the FAT's sector
# count (boot sector, offset 32) and the squashfs's bytes_used (superblock,
# offset 40).
bootlen=$(($(od -An -t u4 -j $((boot + 32)) -N 4 "$img" | tr -d ' ') * 512))
rootlen=$(od -An -t u8 -j $((root + 40)) -N 8 "$img" | tr -d ' ')

part() { dd if="$img" iflag=skip_bytes,count_bytes skip="$1" count="$2" bs=1M status=none; }

# gokrazy answers a PUT with the SHA-256 of what it wrote.
put() {
	local what=$1 off=$2 len=$3 want got
	want=$(part "$off" "$len" | sha256sum | cut -d' ' -f1)
	got=$(part "$off" "$len" | curl -fsS -u "gokrazy:$pw" -X PUT --data-binary @- "http://$host/update/$what")
	[ "$got" = "$want" ] || { echo "$0: $host wrote $what with SHA-256 $got, want $want" >&2; exit 1; }
	echo "$host: $what written ($((len / 1024)) KiB)"
}
put root "$root" "$rootlen"
put boot "$boot" "$bootlen"
put mbr 0 446
curl -fsS -u "gokrazy:$pw" -X POST "http://$host/update/switch"
echo "$host: switched to the new root; rebooting"
curl -fsS -u "gokrazy:$pw" -X POST "http://$host/reboot" > /dev/null
