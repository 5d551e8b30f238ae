package store

import (
	"fmt"
	"sync"
	"time"
)

// Disk-space guard. Pebble treats a failed WAL write as fatal, so a full disk
// must be refused before writing, never discovered by writing. statfs is a
// syscall, too costly per edit under group commit, so the free space is
// cached and reduced by what we wrote since; it is measured again at most
// every diskRecheckEvery, or after diskRecheckBytes written, or before
// refusing a write (so a stale estimate never refuses on its own).
const (
	diskRecheckEvery = 100 * time.Millisecond
	diskRecheckBytes = 1 << 20
)

type diskGuard struct {
	path    string
	minFree uint64
	statfs  func(path string) (uint64, error)

	mu      sync.Mutex
	free    uint64    // at the last statfs
	checked time.Time // when of the last statfs; zero = never
	written uint64    // bytes written since the last statfs
}

func newDiskGuard(path string, minFree uint64) *diskGuard {
	return &diskGuard{path: path, minFree: minFree, statfs: freeBytes}
}

// reserve returns an error wrapping ErrDiskFull when writing n more bytes
// would leave less than minFree free; otherwise it counts n as written.
func (g *diskGuard) reserve(n uint64) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	stale := g.checked.IsZero() || time.Since(g.checked) >= diskRecheckEvery || g.written >= diskRecheckBytes
	if !stale && g.enough(n) {
		g.written += n
		return nil
	}
	if err := g.measure(); err != nil {
		return err
	}
	if !g.enough(n) {
		return fmt.Errorf("%w: %s free, need %s", ErrDiskFull, formatBytes(g.free), formatBytes(g.minFree+n))
	}
	g.written += n
	return nil
}

func (g *diskGuard) enough(n uint64) bool {
	if g.written > g.free {
		return false
	}
	free := g.free - g.written
	return free >= n && free-n >= g.minFree
}

func (g *diskGuard) measure() error {
	free, err := g.statfs(g.path)
	if err != nil {
		return fmt.Errorf("statfs %s: %w", g.path, err)
	}
	g.free, g.checked, g.written = free, time.Now(), 0
	return nil
}

// formatBytes prints a size the way the error messages want it: 3.1 MiB, 16 MiB.
func formatBytes(n uint64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	v := float64(n)
	i := 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%d B", n)
	}
	s := fmt.Sprintf("%.1f", v)
	if len(s) > 2 && s[len(s)-2:] == ".0" {
		s = s[:len(s)-2]
	}
	return s + " " + units[i]
}
