package hil

import (
	"context"
	"flag"
	"os"
	"os/signal"
	"syscall"
	"testing"
)

var (
	cableTrials = flag.Int("hil.cable-trials", 5, "cable pulls of the active in step 3 (make bench runs 20)")
	powerTrials = flag.Int("hil.power-trials", 2, "power cuts of the active in step 4 (each reboots it; make bench runs 10)")
	keep        = flag.Bool("hil.keep", false, "keep the rig's folder (disks, serial logs)")
)

// TestImage boots three consoles from the image in $CONSOLED_IMAGE (a base
// image; `make image-test` builds it and sets the variable) and runs the
// steps in order. Without the variable it is skipped, so `go test ./...`
// stays a unit test run.
func TestImage(t *testing.T) {
	img := os.Getenv("CONSOLED_IMAGE")
	if img == "" {
		t.Skip("CONSOLED_IMAGE is not set; make image-test runs this test")
	}
	// Ctrl-C or SIGTERM ends the steps, and the cleanup still runs.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	r, err := New(Options{Image: img, Logf: t.Logf, Keep: *keep})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Log("\n" + r.Report(context.Background()))
		}
		if err := r.Close(); err != nil {
			t.Error(err)
		}
	})

	ledger := NewLedger()
	steps := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"1-boot-to-ready", func(t *testing.T) {
			res, err := r.BootAll(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for i, d := range res.Ready {
				t.Logf("boot-to-ready %s: %.1f s (gokrazy up on the management NIC: %.1f s)", r.VMs[i].Name, d.Seconds(), res.Init[i].Seconds())
			}
			t.Logf("all connected on the show LAN: %.1f s after power-on", res.Mesh.Seconds())
		}},
		{"2-launch", func(t *testing.T) {
			res, err := r.Launch(ctx, ledger)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("consolectl --remote launch %s on %s: active after %s; on the others: backups after %v", Show, res.Active, ms(res.Launch), res.Join)
			t.Logf("edits on all three (consolectl set and the edit stream): %d acknowledged, the same digest on all three (%d objects, %.12s…)", res.Check.Acked, res.Check.Objects, res.Check.Digest)
		}},
		{"3-cable-pull", func(t *testing.T) {
			v := r.VMs[0]
			rtt, err := StatusRTT(ctx, v, 20)
			if err != nil {
				t.Fatal(err)
			}
			res, err := r.CablePull(ctx, ledger, *cableTrials)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: status read over the management NIC (the floor): p50 %s, p99 %s", v.Name, ms(Percentile(rtt, 50)), ms(Percentile(rtt, 99)))
			t.Logf("the active's cable pulled (%d trials: %v)", len(res.Off), res.Pulled)
			t.Logf("set_link %s off → LINK LED off: p50 %s, p99 %s", ShowNIC, ms(Percentile(res.Off, 50)), ms(Percentile(res.Off, 99)))
			t.Logf("set_link %s off → a backup is active: p50 %s, p99 %s", ShowNIC, ms(Percentile(res.Successor, 50)), ms(Percentile(res.Successor, 99)))
			t.Logf("set_link %s on → LINK LED on: p50 %s, p99 %s", ShowNIC, ms(Percentile(res.On, 50)), ms(Percentile(res.On, 99)))
			t.Logf("set_link %s on → merged, one active, all at its seq: p50 %s, p99 %s", ShowNIC, ms(Percentile(res.Merged, 50)), ms(Percentile(res.Merged, 99)))
			check(t, ctx, r, ledger)
		}},
		{"4-power-cut", func(t *testing.T) {
			res, err := r.PowerCuts(ctx, ledger, *powerTrials)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("the active's power cut (kill -9 of QEMU), %d trials: %v", len(res.Cut), res.Cut)
			t.Logf("kill -9 → edits acknowledged again on every survivor: p50 %s, p99 %s", ms(Percentile(res.Failover, 50)), ms(Percentile(res.Failover, 99)))
			for i, p := range res.Perm {
				t.Logf("/perm after the cut: consistent (journal replayed: %v), provisioned files intact; booted again: ready %.1f s, resumed as a backup %.1f s after power-on", p.Replayed, res.Ready[i].Seconds(), res.Resumed[i].Seconds())
			}
			check(t, ctx, r, ledger)
		}},
		{"5-blackout", func(t *testing.T) {
			res, err := r.Blackout(ctx, ledger)
			if err != nil {
				t.Fatal(err)
			}
			for i, d := range res.Ready {
				t.Logf("%s: power on → ready %.1f s", r.VMs[i].Name, d.Seconds())
			}
			t.Logf("all three cut and powered on together: %s active, the others its backups %.1f s after power-on; an edit acknowledged %.1f s after", res.Active, res.Settled.Seconds(), res.Edits.Seconds())
			check(t, ctx, r, ledger)
		}},
		{"update-over-network", func(t *testing.T) {
			v := r.VMs[len(r.VMs)-1]
			res, err := r.Update(ctx, v)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: image/update.sh wrote root, boot and MBR in %.1f s; ready again from the other root partition %.1f s after the update began, same console and key", v.Name, res.Written.Seconds(), res.Ready.Seconds())
			check(t, ctx, r, ledger)
		}},
	}
	for _, s := range steps {
		if !t.Run(s.name, s.run) {
			t.FailNow()
		}
	}
}

// check looks up every acknowledged edit in the show of every console.
func check(t *testing.T, ctx context.Context, r *Rig, l *Ledger) {
	t.Helper()
	res, err := l.Check(ctx, r.VMs)
	_, failed := l.Counts()
	t.Logf("acknowledged edits lost: %d (of %d acknowledged, on each of %d consoles; %d edits had no success answer); the same digest on all (%d objects)",
		res.Lost, res.Acked, len(r.VMs), failed, res.Objects)
	if err != nil {
		t.Fatal(err)
	}
}
