// Package hil is the hardware-in-the-loop rig for the console image: it
// boots copies of the amd64 image in QEMU (TCG), their show NICs on one
// virtual LAN that stays in this process (see LAN), each with a management
// NIC forwarded from 127.0.0.1, and measures what the booted consoles do.
//
// The steps are functions (steps.go), run in order by the test
// (TestImage, `make image-test`) and by `make bench` (section image).
package hil

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"consoled/client"
	"consoled/replication/wire"
)

// Options configure a Rig.
type Options struct {
	// Image is the base image monogok built (make image-base).
	Image string
	// N is the number of consoles; default 3.
	N int
	// Root is the module root, where image/perm.sh is; default: found by
	// walking up from the working directory.
	Root string
	// Logf reports progress; default: nothing.
	Logf func(format string, args ...any)
	// Keep leaves the rig's folder (disks, serial logs) in place.
	Keep bool
}

// Rig is N consoles on one show LAN.
type Rig struct {
	Dir string
	Key string // the show network key file every console was flashed with
	LAN *LAN
	VMs []*VM
	// Consolectl is consolectl built for this machine: the steps drive the
	// consoles with consolectl --remote or with package client, which is
	// what it runs.
	Consolectl string

	tls  *tls.Config
	opts Options
}

// ShowAddr is console i's (1-based) static address on the show LAN.
func ShowAddr(i int) string { return fmt.Sprintf("10.73.0.%d", i) }

// New makes the rig's folder, flashes a disk per console (the base image
// with its own /perm: config, network settings, the shared key) and starts
// the LAN. No VM runs yet. On error everything made is removed.
func New(opts Options) (_ *Rig, err error) {
	if opts.N == 0 {
		opts.N = 3
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	if opts.Root == "" {
		if opts.Root, err = moduleRoot(); err != nil {
			return nil, err
		}
	}
	if _, err := os.Stat(opts.Image); err != nil {
		return nil, fmt.Errorf("image: %w (make image-base builds it)", err)
	}
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		return nil, fmt.Errorf("%w (apt-get install qemu-system-x86)", err)
	}
	// Unix socket paths are short (108 bytes): a folder in /tmp.
	dir, err := os.MkdirTemp("", "consoled-hil-")
	if err != nil {
		return nil, err
	}
	r := &Rig{Dir: dir, opts: opts}
	defer func() {
		if err != nil {
			r.Close()
		}
	}()
	r.Key = filepath.Join(dir, "network.key")
	key := make([]byte, 32)
	rand.Read(key)
	if err := os.WriteFile(r.Key, []byte(hex.EncodeToString(key)+"\n"), 0o600); err != nil {
		return nil, err
	}
	k, err := wire.LoadKey(r.Key)
	if err != nil {
		return nil, err
	}
	if r.tls, err = client.TLSConfig(k); err != nil {
		return nil, err
	}
	r.Consolectl = filepath.Join(dir, "consolectl")
	build := exec.Command("go", "build", "-o", r.Consolectl, "./cmd/consolectl")
	build.Dir = opts.Root
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build ./cmd/consolectl: %v: %s", err, out)
	}
	if r.LAN, err = NewLAN(filepath.Join(dir, "lan.sock")); err != nil {
		return nil, err
	}
	for i := 1; i <= opts.N; i++ {
		v, err := r.flash(i)
		if err != nil {
			return nil, err
		}
		r.VMs = append(r.VMs, v)
	}
	return r, nil
}

// flash makes console i's folder and disk.
func (r *Rig) flash(i int) (*VM, error) {
	name := fmt.Sprintf("desk-%d", i)
	dir := filepath.Join(r.Dir, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, err
	}
	config := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(config, []byte(ConsoleConfig(name, r.opts.N)), 0o644); err != nil {
		return nil, err
	}
	network := filepath.Join(dir, "network.yaml")
	if err := os.WriteFile(network, []byte(NetworkConfig(i)), 0o644); err != nil {
		return nil, err
	}
	disk := filepath.Join(dir, "disk.img")
	out, err := exec.Command(filepath.Join(r.opts.Root, "image", "perm.sh"), r.opts.Image, disk, config, network, r.Key).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("%s: perm.sh: %v: %s", name, err, out)
	}
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	v := &VM{
		Name: name, Index: i, Dir: dir, Disk: disk, lan: r.LAN, tls: r.tls,
		Forward: map[int]int{GuestStatusPort: ports[0], GuestPeerPort: ports[1], GuestGokrazyPort: ports[2]},
	}
	r.LAN.Plug(v.showSock())
	return v, nil
}

// Heartbeat is the consoles' heartbeat in the rig: a peer silent three of
// them is gone. The hardware's 100 ms (300 ms to notice a silent peer) is
// shorter than the stalls of an emulated CPU on a shared machine (0.3 to
// 2.7 s were seen, with load from other jobs): the consoles took over
// from each other without a fault, over and over, and never settled.
const Heartbeat = "500ms"

// ConsoleConfig is /perm/consoled/config.yaml of console name, one of n:
// the status page on every address, so the management NIC reaches it;
// remote control on (the default, said here because the steps need it);
// every console's show address in peers (its own is skipped); and the
// rig's Heartbeat.
//
// Why peers, besides discovery: a console follows a beacon only when its
// stamp is within 30 s of its own clock, and these consoles have none that
// survives a power cut. gokrazy sets the clock at boot from the time it
// saved at the last clean shutdown (or perm.sh wrote at the flash), so a
// console back from kill -9 runs minutes behind the others, and neither
// side follows the other's beacons. Listing the consoles is the README's
// remedy for a show network without NTP.
func ConsoleConfig(name string, n int) string {
	var peers []string
	for i := 1; i <= n; i++ {
		peers = append(peers, fmt.Sprintf("%s:%d", ShowAddr(i), GuestPeerPort))
	}
	return fmt.Sprintf("id: %s\nhttp: \":%d\"\nlisten: \":%d\"\nremote-control: \"on\"\npeers: [%s]\nheartbeat: %s\n",
		name, GuestStatusPort, GuestPeerPort, strings.Join(peers, ", "), Heartbeat)
}

// NetworkConfig is /perm/consoled/network.yaml of console i: the show NIC
// (eth0) static, the management NIC (eth1) by DHCP from QEMU.
func NetworkConfig(i int) string {
	return fmt.Sprintf("eth0: {address: %s/24}\neth1: {dhcp: true}\n", ShowAddr(i))
}

// Close powers every VM off, stops the LAN and removes the folder (unless
// Options.Keep). It is safe to call more than once.
func (r *Rig) Close() error {
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	for _, v := range r.VMs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := v.PowerCut(); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if r.LAN != nil {
		r.LAN.Close()
		r.LAN = nil
	}
	if r.Dir != "" && !r.opts.Keep {
		errs = append(errs, os.RemoveAll(r.Dir))
	}
	return errors.Join(errs...)
}

// Report is what the rig knows about the consoles for a failure report:
// the tail of each serial console and consoled's log.
func (r *Rig) Report(ctx context.Context) string {
	var b strings.Builder
	for _, v := range r.VMs {
		fmt.Fprintf(&b, "=== %s (%s)\n", v.Name, v.Dir)
		if ok, why := v.Running(); !ok {
			fmt.Fprintf(&b, "not running: %v\n", why)
		} else {
			// Whether the guest runs at all (QEMU's run state), then what
			// consoled logged, if the management NIC still reaches it.
			st, err := v.QMP(ctx, "query-status", nil)
			fmt.Fprintf(&b, "qemu status: %s %v\n", st, err)
			if logs := v.Logs(ctx); logs != "" {
				fmt.Fprintf(&b, "--- consoled\n%s", tail(logs, 40))
			} else {
				fmt.Fprintf(&b, "(consoled's log unreachable over the management NIC)\n")
			}
		}
		if serial, err := os.ReadFile(v.SerialLog()); err == nil {
			fmt.Fprintf(&b, "--- serial\n%s", tail(string(serial), 30))
		}
	}
	return b.String()
}

func tail(s string, n int) string {
	lines := strings.SplitAfter(strings.TrimRight(s, "\n")+"\n", "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "")
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}
