package hil

import (
	"context"
	"flag"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"
)

var (
	cableTrials = flag.Int("hil.cable-trials", 20, "cable pulls in step 3")
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
		// Step 2 (launch, edits on all three, equal digests) needs
		// consolectl --remote.
		{"3-cable-pull", func(t *testing.T) {
			v := r.VMs[0]
			rtt, err := StatusRTT(ctx, v, 20)
			if err != nil {
				t.Fatal(err)
			}
			res, err := r.CablePull(ctx, v, *cableTrials)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: status read over the management NIC (the floor): p50 %s, p99 %s", v.Name, ms(Percentile(rtt, 50)), ms(Percentile(rtt, 99)))
			t.Logf("%s: set_link %s off → LINK LED off: p50 %s, p99 %s (%d trials)", v.Name, ShowNIC, ms(Percentile(res.Off, 50)), ms(Percentile(res.Off, 99)), len(res.Off))
			t.Logf("%s: set_link %s on → LINK LED on: p50 %s, p99 %s", v.Name, ShowNIC, ms(Percentile(res.On, 50)), ms(Percentile(res.On, 99)))
		}},
		{"4-power-cut", func(t *testing.T) {
			v := r.VMs[0]
			res, err := r.PowerCut(ctx, v)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: kill -9 of QEMU: /perm consistent (journal replayed: %v), provisioned files intact, /perm/consoled: %v", v.Name, res.Perm.Replayed, res.Perm.Files)
			t.Logf("%s: booted again: ready %.1f s, connected to the others %.1f s after power-on, same console and key", v.Name, res.Ready.Seconds(), res.Rejoined.Seconds())
		}},
		// Step 5 (all three off and on together: one active, nothing lost)
		// needs consolectl --remote.
		{"update-over-network", func(t *testing.T) {
			v := r.VMs[len(r.VMs)-1]
			res, err := r.Update(ctx, v)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: image/update.sh wrote root, boot and MBR in %.1f s; ready again from the other root partition %.1f s after the update began, same console and key", v.Name, res.Written.Seconds(), res.Ready.Seconds())
		}},
	}
	for _, s := range steps {
		if !t.Run(s.name, s.run) {
			t.FailNow()
		}
	}
}

func ms(d time.Duration) string { return d.Round(100 * time.Microsecond).String() }
