package hil

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"
)

// How often a step reads a console's status while it waits for a change
// (see WaitStatus), and how long it waits at most.
const (
	pollBoot   = 100 * time.Millisecond
	pollChange = 5 * time.Millisecond
	// Under TCG, with three VMs sharing two cores with everything else the
	// machine runs, a boot takes 10–60 s.
	bootTimeout   = 3 * time.Minute
	changeTimeout = 10 * time.Second
)

// ready: consoled answers over the management NIC and sees its show NIC's
// carrier.
func ready(st Status) bool { return st.Link == "up" && st.LEDs["link"] == "on" }

// BootResult is step 1's outcome.
type BootResult struct {
	// Init is the baseline of Ready: power on → gokrazy's own web server
	// answers over the management NIC (kernel up, init running, the NIC's
	// address from DHCP), per VM.
	Init  []time.Duration
	Ready []time.Duration // per VM: power on → ready
	Mesh  time.Duration   // power on → every console connected to every other
}

// BootAll (step 1) powers every VM on at once and waits until each console
// is ready, then until every console is connected to every other over the
// show LAN (discovery beacons, TLS from the shared key).
func (r *Rig) BootAll(ctx context.Context) (BootResult, error) {
	var res BootResult
	res.Ready = make([]time.Duration, len(r.VMs))
	res.Init = make([]time.Duration, len(r.VMs))
	start := time.Now()
	for _, v := range r.VMs {
		if err := v.Start(); err != nil {
			return res, err
		}
	}
	errs := make([]error, 2*len(r.VMs))
	var wg sync.WaitGroup
	for i, v := range r.VMs {
		wg.Add(2)
		go func() {
			defer wg.Done()
			res.Ready[i], errs[i] = r.WaitReady(ctx, v)
		}()
		go func() {
			defer wg.Done()
			res.Init[i], errs[len(r.VMs)+i] = waitInit(ctx, v)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return res, err
		}
	}
	if err := r.WaitMesh(ctx, r.VMs); err != nil {
		return res, err
	}
	res.Mesh = time.Since(start)
	return res, nil
}

// WaitReady waits until v, powered on, is ready, and returns how long
// after power-on that was.
func (r *Rig) WaitReady(ctx context.Context, v *VM) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, bootTimeout)
	defer cancel()
	_, at, err := v.WaitStatus(ctx, pollBoot, ready)
	if err != nil {
		return 0, fmt.Errorf("%s did not boot to ready: %w", v.Name, err)
	}
	d := at.Sub(v.PoweredOn())
	r.opts.Logf("%s ready %.1f s after power-on", v.Name, d.Seconds())
	return d, nil
}

// waitInit waits until gokrazy's web server answers (any HTTP answer: it
// asks for its password) over v's management NIC.
func waitInit(ctx context.Context, v *VM) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, bootTimeout)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+v.Addr(GuestGokrazyPort)+"/", nil)
		if resp, err := statusClient.Do(req); err == nil {
			resp.Body.Close()
			return time.Since(v.PoweredOn()), nil
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("%s: gokrazy's web server did not answer: %w", v.Name, ctx.Err())
		case <-time.After(pollBoot):
		}
	}
}

// StatusRTT reads v's status n times in a row and returns how long each
// read took: the floor under every time measured through the status page.
func StatusRTT(ctx context.Context, v *VM, n int) ([]time.Duration, error) {
	var ds []time.Duration
	for i := 0; i < n; i++ {
		start := time.Now()
		if _, err := v.Status(ctx); err != nil {
			return nil, err
		}
		ds = append(ds, time.Since(start))
		time.Sleep(pollChange)
	}
	return ds, nil
}

// WaitMesh waits until each of vms is connected to all the others.
func (r *Rig) WaitMesh(ctx context.Context, vms []*VM) error {
	ctx, cancel := context.WithTimeout(ctx, bootTimeout)
	defer cancel()
	for _, v := range vms {
		var others []string
		for _, o := range vms {
			if o != v {
				others = append(others, o.Name)
			}
		}
		_, _, err := v.WaitStatus(ctx, pollBoot, func(st Status) bool {
			c := st.Connected()
			for _, o := range others {
				if !slices.Contains(c, o) {
					return false
				}
			}
			return true
		})
		if err != nil {
			return fmt.Errorf("%s is not connected to %v: %w", v.Name, others, err)
		}
	}
	return nil
}

// CableResult is step 3's outcome: per trial, how long after QEMU's
// set_link the console's LINK LED changed, as read from its status page
// over the management NIC.
type CableResult struct {
	Off []time.Duration // set_link off → LINK LED off
	On  []time.Duration // set_link on → LINK LED on
}

// CablePull (step 3, the part that needs no remote control) pulls and plugs
// v's show cable trials times with QEMU's set_link: the guest's virtio NIC
// loses its carrier, consoled reads it through netlink and turns its LINK
// LED off, then on again. Reading the LED over the management NIC while the
// show NIC is down is also the check that the console stays reachable.
func (r *Rig) CablePull(ctx context.Context, v *VM, trials int) (CableResult, error) {
	var res CableResult
	change := func(up bool) (time.Duration, error) {
		// A random pause, so that the trials do not lock to the phase of
		// the 100 ms netlink poll.
		time.Sleep(50*time.Millisecond + rand.N(200*time.Millisecond))
		ctx, cancel := context.WithTimeout(ctx, changeTimeout)
		defer cancel()
		led := map[bool]string{true: "on", false: "off"}[up]
		start := time.Now()
		if err := v.SetLink(ctx, ShowNIC, up); err != nil {
			return 0, err
		}
		_, at, err := v.WaitStatus(ctx, pollChange, func(st Status) bool { return st.LEDs["link"] == led })
		if err != nil {
			return 0, fmt.Errorf("set_link %s %s: LINK LED not %s: %w", ShowNIC, led, led, err)
		}
		return at.Sub(start), nil
	}
	for i := 0; i < trials; i++ {
		off, err := change(false)
		if err != nil {
			return res, err
		}
		on, err := change(true)
		if err != nil {
			return res, err
		}
		res.Off = append(res.Off, off)
		res.On = append(res.On, on)
	}
	// Back to where the step started: every console connected.
	return res, r.WaitMesh(ctx, r.VMs)
}

// PowerCutResult is step 4's outcome.
type PowerCutResult struct {
	Perm      PermReport
	Ready     time.Duration // power on again → ready
	Rejoined  time.Duration // power on again → connected to every other console again
	SameState bool          // the same console name and network key as before
}

// PowerCut (step 4, the part that needs no remote control) kills v's QEMU
// with SIGKILL, checks /perm from the host as the cut left it (ReadPerm),
// and boots v again: it must come back ready, as the same console with the
// same key, and rejoin the others.
func (r *Rig) PowerCut(ctx context.Context, v *VM) (PowerCutResult, error) {
	var res PowerCutResult
	before, err := v.Status(ctx)
	if err != nil {
		return res, err
	}
	if err := v.PowerCut(); err != nil {
		return res, err
	}
	want, err := r.provisioned(v)
	if err != nil {
		return res, err
	}
	if res.Perm, err = v.ReadPerm(ctx, want); err != nil {
		return res, err
	}
	if err := v.Start(); err != nil {
		return res, err
	}
	if res.Ready, err = r.WaitReady(ctx, v); err != nil {
		return res, err
	}
	after, err := v.Status(ctx)
	if err != nil {
		return res, err
	}
	res.SameState = after.Console == before.Console && after.NetworkKey == before.NetworkKey
	if !res.SameState {
		return res, fmt.Errorf("%s came back as %s with key %s, was %s with key %s", v.Name, after.Console, after.NetworkKey, before.Console, before.NetworkKey)
	}
	if err := r.WaitMesh(ctx, r.VMs); err != nil {
		return res, err
	}
	res.Rejoined = time.Since(v.PoweredOn())
	return res, nil
}

// UpdateResult is the update step's outcome.
type UpdateResult struct {
	Written time.Duration // update.sh: the new root, boot and MBR written and switched to
	Ready   time.Duration // update.sh started → ready again, booted from the other root
}

// Update updates running console v over the network with image/update.sh
// from the rig's image, as the README says to update a console: v reboots
// from the other root partition and must come back ready, as the same
// console with the same key (/perm kept), and rejoin the others.
func (r *Rig) Update(ctx context.Context, v *VM) (UpdateResult, error) {
	var res UpdateResult
	before, err := v.Status(ctx)
	if err != nil {
		return res, err
	}
	serial := v.SerialLog()
	fi, err := os.Stat(serial)
	if err != nil {
		return res, err
	}
	start := time.Now()
	out, err := exec.CommandContext(ctx, filepath.Join(r.opts.Root, "image", "update.sh"), v.Addr(GuestGokrazyPort), r.opts.Image).CombinedOutput()
	if err != nil {
		return res, fmt.Errorf("%s: update.sh: %v: %s", v.Name, err, out)
	}
	res.Written = time.Since(start)
	// The new boot's kernel command line names the other root partition
	// (gokrazy's switch: partition 3 is PARTNROFF=2 from the boot partition).
	ctx, cancel := context.WithTimeout(ctx, bootTimeout)
	defer cancel()
	for {
		b, _ := os.ReadFile(serial)
		if int64(len(b)) > fi.Size() && bytes.Contains(b[fi.Size():], []byte("PARTNROFF=2")) {
			break
		}
		if ok, why := v.Running(); !ok {
			return res, fmt.Errorf("%s: %v", v.Name, why)
		}
		select {
		case <-ctx.Done():
			return res, fmt.Errorf("%s did not boot from the updated root partition: %w", v.Name, ctx.Err())
		case <-time.After(pollBoot):
		}
	}
	after, _, err := v.WaitStatus(ctx, pollBoot, ready)
	if err != nil {
		return res, fmt.Errorf("%s did not come back after the update: %w", v.Name, err)
	}
	res.Ready = time.Since(start)
	if after.Console != before.Console || after.NetworkKey != before.NetworkKey {
		return res, fmt.Errorf("%s came back as %s with key %s, was %s with key %s", v.Name, after.Console, after.NetworkKey, before.Console, before.NetworkKey)
	}
	return res, r.WaitMesh(ctx, r.VMs)
}

// provisioned is what perm.sh wrote into v's /perm/consoled.
func (r *Rig) provisioned(v *VM) (map[string][]byte, error) {
	want := map[string][]byte{}
	for name, src := range map[string]string{
		"network.key":  r.Key,
		"config.yaml":  v.Dir + "/config.yaml",
		"network.yaml": v.Dir + "/network.yaml",
	} {
		b, err := os.ReadFile(src)
		if err != nil {
			return nil, err
		}
		want[name] = b
	}
	return want, nil
}

// Percentile is the p-th percentile (0–100) of ds, nearest rank.
func Percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := (len(s)*p + 99) / 100
	if i < 1 {
		i = 1
	}
	return s[i-1]
}
