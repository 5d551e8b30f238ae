package firmware

import (
	"os"
	"syscall"

	"consoled/api"
)

// descriptors counts the service's open descriptors and reads its limit.
//
// The limit needs no raising here: since Go 1.19 package syscall raises the
// soft RLIMIT_NOFILE when a program starts (to one below the hard limit
// with this Go, go1.26: syscall/rlimit.go) and restores it for the programs
// it starts. TestDescriptorLimit (e2e) checks that a consoled started under
// a soft limit of 256 shows the raised one.
func descriptors() api.Descriptors {
	var d api.Descriptors
	if ents, err := os.ReadDir("/proc/self/fd"); err == nil {
		d.Open = len(ents) - 1 // less the one reading the directory
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil {
		d.Limit = lim.Cur
	}
	return d
}
