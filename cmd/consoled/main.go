// Command consoled is the console service: front panel, show store and
// replication. docs/contract.md lists its flags, docs/operator.md says how
// to run it, and README.md starts from the two make commands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"consoled/firmware"
	"consoled/version"
)

// startupGrace is how long a start-up interrupted by a signal may still
// take to finish, so the service can stop cleanly. One still stuck after it
// (on a file that never answers, say) exits as after a power cut, which the
// store survives, and the kernel releases the data directory's lock.
const startupGrace = 3 * time.Second

func main() {
	// Signals first, before the config, the board, the store or the network
	// key are read: SIGTERM (systemd stop, power-down script) or Ctrl-C stops
	// a start-up stuck on one of them too.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	code := run(ctx)
	stop()
	os.Exit(code)
}

// started is the outcome of start-up: a service to run, or an exit status.
type started struct {
	svc  *firmware.Service
	code int
}

func run(ctx context.Context) int {
	// CONSOLED_CPUPROFILE=FILE (hidden, for performance work) writes a CPU
	// profile of the whole run, flushed at a clean stop.
	if path := os.Getenv("CONSOLED_CPUPROFILE"); path != "" {
		if f, err := os.Create(path); err == nil {
			if pprof.StartCPUProfile(f) == nil {
				defer pprof.StopCPUProfile()
			}
		}
	}
	ready := make(chan started, 1)
	go func() { ready <- start(os.Args[1:]) }()
	var st started
	select {
	case st = <-ready:
	case <-ctx.Done():
		select {
		case st = <-ready:
		case <-time.After(startupGrace):
			fmt.Fprintf(os.Stderr, "consoled: stopped by a signal during start-up, which had not finished %v later\n", startupGrace)
			return 1
		}
	}
	if st.svc == nil {
		return st.code
	}
	// A signal that came during start-up makes Run stop at once, cleanly.
	if err := st.svc.Run(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "consoled: %v\n", err)
		return 1
	}
	return 0
}

// start reads the command line and opens the service.
func start(args []string) started {
	cfg, err := firmware.ParseArgs(args, os.Stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return started{code: 0}
	case errors.Is(err, firmware.ErrVersion):
		fmt.Println(version.String("consoled"))
		return started{code: 0}
	case errors.Is(err, firmware.ErrUsage):
		fmt.Fprintf(os.Stderr, "consoled: %v\n", err)
		return started{code: 2}
	case err != nil:
		fmt.Fprintf(os.Stderr, "consoled: %v\n", err)
		return started{code: 1}
	}
	svc, err := firmware.New(cfg, firmware.Options{})
	if err != nil {
		fmt.Fprintf(os.Stderr, "consoled: %v\n", err)
		return started{code: 1}
	}
	return started{svc: svc}
}
