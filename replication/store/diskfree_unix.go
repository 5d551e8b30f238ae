//go:build linux || darwin || freebsd

package store

import "syscall"

// freeBytes is the space an unprivileged writer may still use on path's
// file system (f_bavail, not f_bfree: root's reserve is not ours to plan on).
func freeBytes(path string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, err
	}
	return uint64(st.Bavail) * uint64(st.Bsize), nil
}
