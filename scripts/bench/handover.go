package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// handOverBench: how long a log-off of the active waits while its only
// backup takes a full copy of the show (the edits acknowledged meanwhile
// exist on the active alone until the copy is in), next to how long that
// copy takes with nobody logging off, in the same run.
func handOverBench(tmp string) {
	ctx := context.Background()
	cs := cluster(tmp, "handover", 2)
	a, b := cs[0], cs[1]
	defer func() { stopAll([]*console{a, b}) }()
	if _, err := a.client.Launch(ctx, "bench", false); err != nil {
		fatal(err)
	}
	load(a, *showObjects, *objectSize)
	dir := filepath.Join(tmp, "handover")
	bArgs := func() []string {
		st, err := a.client.Status(ctx)
		if err != nil {
			fatal(err)
		}
		return []string{"--network-key", filepath.Join(dir, "network.key"), "--peers", st.Listen}
	}
	// wipe restarts b with no copy, so its next launch takes a full one.
	wipe := func() {
		b.stop()
		if err := os.RemoveAll(filepath.Join(dir, "desk-2", "shows")); err != nil {
			fatal(err)
		}
		b = startConsole(dir, "desk-2", bArgs()...)
	}

	// The copy alone.
	wipe()
	st, _ := a.client.Status(ctx)
	t0 := time.Now()
	if _, err := b.client.Launch(ctx, "bench", false); err != nil {
		fatal(err)
	}
	waitSeq(b, st.Seq)
	copyTook := time.Since(t0)

	// The same copy, with the active logging off once it has begun and an
	// edit acknowledged meanwhile.
	wipe()
	go b.client.Launch(ctx, "bench", false)
	for {
		st, err := b.client.Status(ctx)
		if err != nil {
			fatal(err)
		}
		if st.Syncing {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if _, err := a.client.Set(ctx, "during/copy", "acknowledged by the active alone"); err != nil {
		fatal(err)
	}
	last, _ := a.client.Status(ctx)
	t0 = time.Now()
	if _, err := a.client.Logoff(ctx); err != nil {
		fatal(err)
	}
	waited := time.Since(t0)
	// b takes over with the edit made during its copy.
	for deadline := time.Now().Add(60 * time.Second); ; {
		st, err := b.client.Status(ctx)
		if err != nil {
			fatal(err)
		}
		if st.Role == "active" && st.Seq >= last.Seq {
			break
		}
		if time.Now().After(deadline) {
			fatalf("desk-2 did not take over with seq %d: role %s seq %d", last.Seq, st.Role, st.Seq)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if v, err := b.client.Get(ctx, "during/copy"); err != nil || v != "acknowledged by the active alone" {
		fatalf("the successor lacks the edit acknowledged during its copy (%q, %v)", v, err)
	}
	fmt.Println("## Hand-over: the active logs off while its backup takes a full copy (issue: no acknowledged edit leaves the live show)")
	netHeader()
	netRow(fmt.Sprintf("log-off waits, %d objects of %d B", *showObjects, *objectSize), ms(waited), ms(copyTook)+" copy", float64(waited)/float64(copyTook))
	fmt.Printf("%-58s %14s\n", "  (the successor holds the edit made during its copy)", "yes")
	fmt.Println()
}
