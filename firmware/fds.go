package firmware

import (
	"os"
	"syscall"
)

// Descriptors reports this process's open file descriptors and its soft
// limit on them (RLIMIT_NOFILE), for the status page. Go raises the soft
// limit to one below the hard one at start (since Go 1.19; e2e
// TestSoftDescriptorLimitRaised checks it for consoled).
func Descriptors() (open int, limit uint64, err error) {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0, 0, err
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, 0, err
	}
	return len(ents) - 1, lim.Cur, nil // less the one reading the folder
}
