#!/usr/bin/env bash
# perm.sh BASE OUT CONFIG NETWORK KEY
#
# Writes OUT: the disk image BASE (as monogok built it) with its /perm
# partition made, an ext4 file system holding what the console reads at boot:
#
#   /perm/consoled/config.yaml    consoled's --config (CONFIG)
#   /perm/consoled/network.yaml   the NICs' settings, read by netconf (NETWORK;
#                                 "" for none: eth0 takes DHCP)
#   /perm/consoled/network.key    the show network's key (KEY), mode 0600
#   /perm/home/ntp/ntp-time-at-last-shutdown
#                                 now: gokrazy's ntp sets the clock from it at
#                                 boot, so a console without a real-time clock
#                                 (a Raspberry Pi) on a show network without NTP
#                                 starts at the flash time, not in 1970, where the
#                                 consoles' TLS certificates are not valid yet
#
# monogok leaves /perm unformatted; gokrazy mounts whatever is there.
set -euo pipefail
[ $# -eq 5 ] || { echo "usage: $0 BASE OUT CONFIG NETWORK KEY" >&2; exit 2; }
base=$1 out=$2 config=$3 network=$4 key=$5

# consoled refuses any other key file; better here than at the console.
grep -qxE '[0-9a-fA-F]{64}' "$key" && [ "$(wc -c < "$key")" -eq 65 ] ||
	{ echo "$0: $key: a network key is 64 hex digits and a newline (consolectl network-key prints one)" >&2; exit 1; }

# /perm is GPT partition 4. The partition entries start at LBA 2, 128 bytes
# each; an entry's first and last LBA are at bytes 32 and 40.
read -r first last < <(od -An -t u8 -j $((1024 + 3 * 128 + 32)) -N 16 "$base")
[ "${first:-0}" -gt 0 ] && [ "$last" -gt "$first" ] || { echo "$0: $base has no partition 4" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp" "$out.tmp"' EXIT
mkdir -m 0755 "$tmp/consoled"
install -m 0644 "$config" "$tmp/consoled/config.yaml"
[ -z "$network" ] || install -m 0644 "$network" "$tmp/consoled/network.yaml"
install -m 0600 "$key" "$tmp/consoled/network.key"
mkdir -p -m 0700 "$tmp/home/ntp"
# RFC 3339 and no newline: Go's time.Time.UnmarshalText reads it.
(umask 077 && printf %s "$(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$tmp/home/ntp/ntp-time-at-last-shutdown")

cp --sparse=always "$base" "$out.tmp"
# Inode tables and journal are written now, not by the console's first
# boot in the background.
mkfs.ext4 -q -F -L perm -E "offset=$((first * 512)),lazy_itable_init=0,lazy_journal_init=0" \
	-d "$tmp" "$out.tmp" "$(((last - first + 1) / 2))k"
mv "$out.tmp" "$out"
