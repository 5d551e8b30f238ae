// Command consoled is the console service: front panel, show store and
// replication. See DESIGN.md for the flags and README.md for the commands.
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

	"consoled/firmware"
)

func main() {
	cfg, err := firmware.ParseArgs(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "consoled: %v\n", err)
		if errors.Is(err, firmware.ErrUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
	// CONSOLED_CPUPROFILE=FILE (hidden, for performance work) writes a CPU
	// profile of the whole run, flushed at a clean stop.
	if path := os.Getenv("CONSOLED_CPUPROFILE"); path != "" {
		if f, err := os.Create(path); err == nil {
			if pprof.StartCPUProfile(f) == nil {
				defer pprof.StopCPUProfile()
			}
		}
	}
	// SIGTERM (systemd stop, power-down script) logs off cleanly.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	svc, err := firmware.New(cfg, firmware.Options{})
	if err != nil {
		fmt.Fprintf(os.Stderr, "consoled: %v\n", err)
		os.Exit(1)
	}
	if err := svc.Run(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "consoled: %v\n", err)
		os.Exit(1)
	}
}
