package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"consoled/image/hil"
)

var (
	imageTrials      = flag.Int("image-trials", 20, "cable pulls of the active in the image section")
	imagePowerTrials = flag.Int("image-power-trials", 10, "power cuts of the active in the image section (each reboots it)")
)

const imageHeading = "## Console image booted in QEMU (TCG): three consoles on one show LAN (issue: the flashed console image)"

// benchImage boots three consoles from the amd64 image (make image-base,
// cached) and measures the steps of make image-test, each against a
// baseline from the same VMs.
func benchImage() {
	fmt.Println(imageHeading)
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		fmt.Printf("skipped: no qemu-system-x86_64 (apt-get install qemu-system-x86)\n\n")
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := runImage(ctx); err != nil {
		fmt.Printf("failed: %v\n\n", err)
	}
}

func runImage(ctx context.Context) error {
	img, err := baseImage()
	if err != nil {
		return err
	}
	r, err := hil.New(hil.Options{Image: img})
	if err != nil {
		return err
	}
	defer r.Close()
	fail := func(err error) error {
		return fmt.Errorf("%w\n%s", err, r.Report(context.Background()))
	}
	boot, err := r.BootAll(ctx)
	if err != nil {
		return fail(err)
	}
	ledger := hil.NewLedger()
	launch, err := r.Launch(ctx, ledger)
	if err != nil {
		return fail(err)
	}
	v := r.VMs[0]
	rtt, err := hil.StatusRTT(ctx, v, 50)
	if err != nil {
		return fail(err)
	}
	cable, err := r.CablePull(ctx, ledger, *imageTrials)
	if err != nil {
		return fail(err)
	}
	// Every acknowledged edit on every console after each step: a step
	// that loses one fails the section.
	checkEdits := func() error {
		_, err := ledger.Check(ctx, r.VMs)
		return err
	}
	if err := checkEdits(); err != nil {
		return fail(err)
	}
	cut, err := r.PowerCuts(ctx, ledger, *imagePowerTrials)
	if err != nil {
		return fail(err)
	}
	if err := checkEdits(); err != nil {
		return fail(err)
	}
	// A blackout that does not settle still leaves the rows measured
	// before it worth printing; the section then ends with its error.
	var upd hil.UpdateResult
	blackout, blackoutErr := r.Blackout(ctx, ledger)
	if blackoutErr == nil {
		blackoutErr = checkEdits()
	}
	if blackoutErr == nil {
		if upd, err = r.Update(ctx, r.VMs[len(r.VMs)-1]); err != nil {
			return fail(err)
		}
		if err := checkEdits(); err != nil {
			return fail(err)
		}
	}
	acked, failed := ledger.Counts()

	row := func(name, value string) { fmt.Printf("%-66s %14s\n", name, value) }
	sec := func(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }
	p := hil.Percentile
	row("measure", "value")
	for i, vm := range r.VMs {
		row(fmt.Sprintf("boot-to-ready %s (power on → status page, link up)", vm.Name), sec(boot.Ready[i]))
	}
	for i, vm := range r.VMs {
		row(fmt.Sprintf("baseline: power on → gokrazy answers on the mgmt NIC, %s", vm.Name), sec(boot.Init[i]))
	}
	row("power on → every console connected to every other", sec(boot.Mesh))
	row("consolectl --remote launch → active (first console)", sec(launch.Launch))
	for i, d := range launch.Join {
		row(fmt.Sprintf("consolectl --remote launch → backup (%s)", r.VMs[i+1].Name), sec(d))
	}
	row(fmt.Sprintf("set_link off (the active's) → LINK LED off, p50 (%d trials)", len(cable.Off)), ms(p(cable.Off, 50)))
	row("set_link off → LINK LED off, p99", ms(p(cable.Off, 99)))
	row(fmt.Sprintf("set_link off → a backup is active, p50 (%d trials)", len(cable.Successor)), ms(p(cable.Successor, 50)))
	row("set_link off → a backup is active, p99", ms(p(cable.Successor, 99)))
	row("set_link on → LINK LED on, p50", ms(p(cable.On, 50)))
	row("set_link on → LINK LED on, p99", ms(p(cable.On, 99)))
	row("set_link on → merged: one active, every console at its seq, p50", ms(p(cable.Merged, 50)))
	row("set_link on → merged, p99", ms(p(cable.Merged, 99)))
	row(fmt.Sprintf("baseline: status read over the mgmt NIC, p50 (%d reads)", len(rtt)), ms(p(rtt, 50)))
	row("baseline: status read over the mgmt NIC, p99", ms(p(rtt, 99)))
	row(fmt.Sprintf("power cut (kill -9 of the active's QEMU) → edits acknowledged again, p50 (%d trials)", len(cut.Failover)), ms(p(cut.Failover, 50)))
	row("power cut → edits acknowledged again on every survivor, p99", ms(p(cut.Failover, 99)))
	replayed := 0
	for _, pr := range cut.Perm {
		if pr.Replayed {
			replayed++
		}
	}
	row("power cut: /perm consistent, provisioned files intact", fmt.Sprintf("%d of %d", len(cut.Perm), len(cut.Failover)))
	row("power cut: journal replayed (writes were in flight)", fmt.Sprintf("%d of %d", replayed, len(cut.Perm)))
	row("power cut: booted again → ready, p50", sec(p(cut.Ready, 50)))
	row("power cut: booted again → resumed as a backup, p50", sec(p(cut.Resumed, 50)))
	row("power cut: booted again → resumed as a backup, p99", sec(p(cut.Resumed, 99)))
	if blackoutErr != nil {
		row("blackout (all three cut, all powered on)", "failed")
		fmt.Println()
		return fail(blackoutErr)
	}
	row("blackout (all three cut, all powered on) → one active and its backups", sec(blackout.Settled))
	row("blackout → an edit acknowledged", sec(blackout.Edits))
	row("blackout: the console that launched the show again", blackout.Active)
	row(fmt.Sprintf("update over the network (%s): root, boot, MBR written", r.VMs[len(r.VMs)-1].Name), sec(upd.Written))
	row("update over the network: → ready again from the other root", sec(upd.Ready))
	row(fmt.Sprintf("acknowledged edits lost (of %d; %d without a success answer)", acked, failed), "0")
	fmt.Printf("(the active's show NIC pulled and plugged by QMP set_link after a random pause, every console taking edits over remote control; LEDs and roles read from the status pages over the management NICs; every acknowledged edit looked up on every console after each step)\n\n")
	return nil
}

// baseImage is $CONSOLED_IMAGE, or the amd64 base image that make builds
// (or finds in its cache).
func baseImage() (string, error) {
	if img := os.Getenv("CONSOLED_IMAGE"); img != "" {
		return img, nil
	}
	if out, err := exec.Command("make", "-s", "-f", "image/image.mk", "image-base", "TARGET=amd64").CombinedOutput(); err != nil {
		return "", fmt.Errorf("make image-base: %v: %s", err, out)
	}
	out, err := exec.Command("make", "-s", "-f", "image/image.mk", "image-base-path", "TARGET=amd64").Output()
	if err != nil {
		return "", fmt.Errorf("make image-base-path: %w", err)
	}
	img, err := filepath.Abs(strings.TrimSpace(string(out)))
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(img); err != nil {
		return "", errors.New("make image-base built no image")
	}
	return img, nil
}
