package hil

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// PermReport is what a VM's /perm held when it was read from the host.
type PermReport struct {
	Replayed bool     // the journal had to be replayed: the power cut caught writes in flight
	Files    []string // /perm/consoled, one entry per file or folder
}

// ReadPerm checks a powered-off VM's /perm from the host, as the disk holds
// it: a copy of the partition has its journal replayed (as the guest's
// kernel will at the next boot) and is then checked by e2fsck, which must
// find nothing to repair, and the files provisioned into /perm/consoled
// (want: name → content) must be there unchanged. The disk itself is not
// touched, so the next boot sees exactly what the power cut left.
func (v *VM) ReadPerm(ctx context.Context, want map[string][]byte) (PermReport, error) {
	var rep PermReport
	if ok, _ := v.Running(); ok {
		return rep, fmt.Errorf("%s: reading /perm of a running VM", v.Name)
	}
	part := filepath.Join(v.Dir, "perm-copy.img")
	defer os.Remove(part)
	if err := copyPartition(v.Disk, 4, part); err != nil {
		return rep, fmt.Errorf("%s: %w", v.Name, err)
	}
	// Journal only: whatever else e2fsck would repair must show in the
	// check after it.
	out, err := exec.CommandContext(ctx, "e2fsck", "-y", "-E", "journal_only", part).CombinedOutput()
	if code := exitCode(err); code > 1 {
		return rep, fmt.Errorf("%s: e2fsck journal replay: exit %d: %s", v.Name, code, out)
	}
	rep.Replayed = bytes.Contains(out, []byte("recovering journal"))
	if out, err := exec.CommandContext(ctx, "e2fsck", "-fn", part).CombinedOutput(); err != nil {
		return rep, fmt.Errorf("%s: /perm is not consistent after the power cut: e2fsck: %v: %s", v.Name, err, out)
	}
	ls, err := exec.CommandContext(ctx, "debugfs", "-R", "ls -p /consoled", part).Output()
	if err != nil {
		return rep, fmt.Errorf("%s: debugfs ls: %w", v.Name, err)
	}
	// ls -p lines: /inode/mode/uid/gid/name/size/
	for _, line := range strings.Split(string(ls), "\n") {
		f := strings.Split(line, "/")
		if len(f) >= 7 && f[5] != "." && f[5] != ".." {
			rep.Files = append(rep.Files, f[5])
		}
	}
	sort.Strings(rep.Files)
	for name, content := range want {
		got, err := exec.CommandContext(ctx, "debugfs", "-R", "cat /consoled/"+name, part).Output()
		if err != nil {
			return rep, fmt.Errorf("%s: debugfs cat %s: %w", v.Name, name, err)
		}
		if !bytes.Equal(got, content) {
			return rep, fmt.Errorf("%s: /perm/consoled/%s changed: %d bytes, want %d", v.Name, name, len(got), len(content))
		}
	}
	return rep, nil
}

// copyPartition copies GPT partition n (1-based) of disk to out, leaving
// holes where the disk has zeros.
func copyPartition(disk string, n int, out string) error {
	f, err := os.Open(disk)
	if err != nil {
		return err
	}
	defer f.Close()
	// GPT partition entries start at LBA 2, 128 bytes each; the first and
	// last LBA are at bytes 32 and 40 of an entry.
	var lba [16]byte
	if _, err := f.ReadAt(lba[:], 1024+int64(n-1)*128+32); err != nil {
		return fmt.Errorf("partition table: %w", err)
	}
	first, last := int64(binary.LittleEndian.Uint64(lba[:8])), int64(binary.LittleEndian.Uint64(lba[8:]))
	if first == 0 || last <= first {
		return fmt.Errorf("no partition %d", n)
	}
	w, err := os.Create(out)
	if err != nil {
		return err
	}
	defer w.Close()
	size := (last - first + 1) * 512
	if err := w.Truncate(size); err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	zero := make([]byte, len(buf))
	r := io.NewSectionReader(f, first*512, size)
	for off := int64(0); off < size; {
		n, err := r.ReadAt(buf, off)
		if n > 0 && !bytes.Equal(buf[:n], zero[:n]) {
			if _, err := w.WriteAt(buf[:n], off); err != nil {
				return err
			}
		}
		off += int64(n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
	}
	return w.Close()
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}
