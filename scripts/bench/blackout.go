package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

var blackoutN = flag.Int("blackout-n", 12, "consoles of the blackout section")

// blackoutBench: a venue blackout. n consoles on the bridge hold a 100 MB
// show (-objects × -size); all lose power at once (SIGKILL) and boot
// together with --resume. Timed until one is active and the others are
// live backups with the same digest, and what the active's NIC sent
// meanwhile. Then n-1 consoles that need a whole copy at once (their data
// wiped), against one console taking one copy in the same run.
func blackoutBench(tmp string) {
	const heading = "## Blackout: consoles on a bridge, all powered off and on together (issue 19)"
	if why := rigUnavailable(); why != "" {
		fmt.Println(heading)
		fmt.Printf("skipped: %s\n\n", why)
		return
	}
	removeStaleRigs()
	n := *blackoutN
	r := newRig(tmp, "blackout", n, true)
	r.web = true
	defer r.close()
	r.startAll()
	r.waitMesh(60 * time.Second)
	r.launch(0, "bench")
	progress("blackout: loading %d objects of %d bytes", *showObjects, *objectSize)
	load(r.cs[0].console, *showObjects, *objectSize)
	progress("blackout: %d consoles join the loaded show at once", n-1)
	t0 := time.Now()
	joinFailed := r.launchRestTry(0, "bench")
	r.waitSettled(5 * time.Minute)
	firstJoin := time.Since(t0)
	showBytes := dirBytes(filepath.Join(r.cs[0].data, "shows", "bench"))

	// The blackout, three times: the figures move with the machine's load.
	var settles, digests []time.Duration
	var sent []uint64
	var stuck []string // trials that did not settle within a minute
	var dumpTook time.Duration
	for trial := 0; trial < 3; trial++ {
		progress("blackout: power cut %d", trial+1)
		tx := make([]uint64, n)
		parallel(n, func(i int) { r.kill(i) })
		for i := range tx {
			tx[i] = r.txBytes(i)
		}
		t0 = time.Now()
		parallel(n, func(i int) { r.start(i, "--resume") })
		active, _, ok := r.trySettled(time.Minute)
		if !ok {
			// A console that fell over is a result, not the end of the
			// bench: say how the rig stands, then do what the operator
			// would (press LAUNCH on the consoles left off) and go on.
			stuck = append(stuck, fmt.Sprintf("trial %d:\n  %s", trial+1, r.describe()))
			for i, st := range r.statuses() {
				if st.Role == "off" {
					r.launch(i, "bench")
				}
			}
			active, _ = r.waitSettled(time.Minute)
		}
		settled := time.Since(t0)
		// Each console works its digest out over its own copy (the status
		// page's /digest.json, the digest a dump prints).
		ds := make([]string, n)
		seqs := make([]uint64, n)
		errs := make([]error, n)
		parallel(n, func(i int) { ds[i], seqs[i], errs[i] = r.webDigest(i) })
		equal := time.Since(t0)
		for i := range ds {
			if errs[i] != nil {
				scaleFatalf("blackout: digest of %s: %v", r.id(i), errs[i])
			}
			if ds[i] != ds[active] || seqs[i] != seqs[active] {
				scaleFatalf("blackout: %s's digest %s at seq %d differs from the active's %s at %d", r.id(i), ds[i], seqs[i], ds[active], seqs[active])
			}
		}
		settles, digests = append(settles, settled), append(digests, equal)
		if trial == 0 {
			// Once, the same check by a whole dump of every console
			// through the control API, as consolectl dump does.
			dumped := time.Now()
			parallel(n, func(i int) { ds[i], errs[i] = r.digest(i) })
			for i := range ds {
				if errs[i] != nil || ds[i] != ds[active] {
					scaleFatalf("blackout: the dump of %s: digest %s (%v), the active's %s", r.id(i), ds[i], errs[i], ds[active])
				}
			}
			dumpTook = time.Since(dumped)
		}
		sent = append(sent, r.txBytes(active)-tx[active])
	}

	// n-1 whole copies at once, against one alone before and after.
	active, _ := r.waitSettled(time.Minute)
	var others []int
	for i := 0; i < n; i++ {
		if i != active {
			others = append(others, i)
		}
	}
	oneCopy := func() time.Duration {
		return r.wipeAndJoin([]int{others[0]}, active)
	}
	progress("blackout: one whole copy")
	single := []time.Duration{oneCopy()}
	progress("blackout: %d whole copies at once", len(others))
	txA := r.txBytes(active)
	many := r.wipeAndJoin(others, active)
	manySent := r.txBytes(active) - txA
	progress("blackout: one whole copy again")
	single = append(single, oneCopy())
	r.stopAll()

	fmt.Println(heading)
	row := func(what, v string) { fmt.Printf("%-64s %s\n", what, v) }
	row("consoles; show (objects × bytes; on disk)", fmt.Sprintf("%d; %d × %d; %.0f MB", n, *showObjects, *objectSize, float64(showBytes)/1e6))
	row(fmt.Sprintf("first join of %d empty consoles at once → all live backups", n-1), msf(firstJoin))
	for _, f := range joinFailed {
		fmt.Printf("  a launch failed and was pressed again: %s\n", f)
	}
	row("power on (--resume) → 1 active + all live backups, 3 trials", durs(settles))
	row("power on → all digests equal (/digest.json of each), 3 trials", durs(digests))
	row(fmt.Sprintf("  (checked again by a dump of all %d after trial 1; the dumps took)", n), msf(dumpTook))
	row("  target: ≤ 30 s", verdict(maxDur(digests) <= 30*time.Second && len(stuck) == 0))
	for _, s := range stuck {
		fmt.Printf("  NOT SETTLED within a minute (the consoles left off were then launched by hand), %s\n", s)
	}
	var mb []string
	for _, s := range sent {
		mb = append(mb, fmt.Sprintf("%.2f MB", float64(s)/1e6))
	}
	row("bytes the active's NIC sent from power on to settled", strings.Join(mb, ", "))
	row(fmt.Sprintf("%d whole copies at once (data wiped) → all live backups", len(others)), msf(many))
	row("  baseline: one whole copy alone, before and after", durs(single))
	base := (single[0] + single[1]) / 2
	ratio := float64(many) / float64(base)
	row("  ratio to one copy (target ≤ 4×)", fmt.Sprintf("%.2f  %s", ratio, verdict(ratio <= 4)))
	row("  bytes the active sent meanwhile / one copy of the show", fmt.Sprintf("%.0f MB / %.0f MB = %.1f copies", float64(manySent)/1e6, float64(showBytes)/1e6, float64(manySent)/float64(showBytes)))
	fmt.Println()
}

// wipeAndJoin stops the consoles idx, removes their data (the key stays: it
// is the rig's), starts them again, and once each hears every other console
// launches them all at once; it returns the time from those launches until
// every console is a live backup of active.
func (r *scaleRig) wipeAndJoin(idx []int, active int) time.Duration {
	parallel(len(idx), func(j int) {
		i := idx[j]
		r.stop(i)
		if err := os.RemoveAll(r.cs[i].data); err != nil {
			scaleFatal(err)
		}
	})
	parallel(len(idx), func(j int) { r.start(idx[j]) })
	for _, i := range idx {
		r.waitPeers(i, time.Minute)
	}
	t0 := time.Now()
	failed := r.launchTry(idx, "bench")
	if a, _ := r.waitSettled(5 * time.Minute); a != active {
		scaleFatalf("blackout: %s became active while the others copied", r.id(a))
	}
	for _, f := range failed {
		fmt.Printf("  (a launch failed and was pressed again: %s)\n", f)
	}
	return time.Since(t0)
}

// dirBytes is the size of the regular files in dir.
func dirBytes(dir string) int64 {
	var n int64
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
	}
	return n
}

func durs(ds []time.Duration) string {
	var s []string
	for _, d := range ds {
		s = append(s, msf(d))
	}
	return strings.Join(s, ", ")
}

func maxDur(ds []time.Duration) time.Duration {
	var m time.Duration
	for _, d := range ds {
		m = max(m, d)
	}
	return m
}
