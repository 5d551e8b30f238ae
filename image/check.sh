#!/usr/bin/env bash
# check.sh IMAGE ARCH
#
# Shows what a built image holds and checks what must hold: its partition
# table (GPT, and the hybrid MBR a Raspberry Pi's firmware reads), the boot
# partition's kernel command line, and that /user/consoled in the root file
# system is an ELF for ARCH (amd64 or arm64). Reading the partitions needs
# sfdisk (Debian: fdisk), unsquashfs (squashfs-tools) and mtools; a part
# whose tool is missing is skipped with a note.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 IMAGE amd64|arm64" >&2; exit 2; }
img=$1 arch=$2
case $arch in amd64) want=3e ;; arm64) want=b7 ;; *) echo "$0: unknown arch $arch" >&2; exit 2 ;; esac

# Partition n's first LBA, from its GPT entry (see perm.sh).
first() { od -An -t u8 -j $((1024 + ($1 - 1) * 128 + 32)) -N 8 "$img" | tr -d ' '; }

echo "$img: $(du -h --apparent-size "$img" | cut -f1) disk, $(du -h "$img" | cut -f1) written"
if command -v sfdisk > /dev/null; then
	sfdisk -l "$img" | sed -n '/^Device/,$p'
	echo "MBR (hybrid: what a Raspberry Pi's firmware and a BIOS read):"
	fdisk -t dos -l "$img" 2> /dev/null | sed -n '/^Device/,/^$/p' | sed '/^$/d' || true
else
	echo "(no sfdisk: partition table not shown)"
fi
if command -v mtype > /dev/null; then
	echo "cmdline.txt: $(mtype -i "$img@@$(($(first 1) * 512))" ::/cmdline.txt | tr -s ' ')"
else
	echo "(no mtools: boot partition not read)"
fi
root=$(($(first 2) * 512))
# A squashfs superblock holds bytes_used at offset 40.
echo "root file system: $(($(od -An -t u8 -j $((root + 40)) -N 8 "$img" | tr -d ' ') / 1024)) KiB squashfs"
if command -v unsquashfs > /dev/null; then
	# An ELF header's e_machine is at offset 18: 0x3e x86-64, 0xb7 AArch64.
	# (head closes the pipe early: unsquashfs's SIGPIPE is no failure.)
	machine=$(set +o pipefail; unsquashfs -o "$root" -cat "$img" user/consoled 2> /dev/null | head -c 20 | od -An -tx1 -j 18 -N 1 | tr -d ' ')
	if [ "$machine" != "$want" ]; then
		echo "$0: /user/consoled is for ELF machine 0x$machine, want 0x$want ($arch)" >&2
		exit 1
	fi
	echo "/user/consoled: ELF for $arch (e_machine 0x$machine)"
else
	echo "(no unsquashfs: /user/consoled not checked)"
fi
