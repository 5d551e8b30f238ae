package hil

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"consoled/client"
)

// Guest ports forwarded from 127.0.0.1 over each VM's management NIC.
const (
	GuestStatusPort  = 7480 // consoled --http: /status.json
	GuestPeerPort    = 7400 // consoled --listen: peers, and consolectl --remote
	GuestGokrazyPort = 80   // gokrazy's own pages: service logs
)

// The VM's two NICs, by QEMU netdev id. The show NIC comes first so that
// the guest names it eth0, the NIC the image's board watches.
const (
	ShowNIC = "show"
	MgmtNIC = "mgmt"
)

// VM is one console: a QEMU process (TCG) booting its own copy of the
// image. Its show NIC is a port of the LAN; its management NIC is QEMU's
// user-mode network, restricted to the forwards from 127.0.0.1.
type VM struct {
	Name  string
	Index int // 1-based; the show address is 10.73.0.Index
	Dir   string
	Disk  string
	// Forward maps a guest port to its host port on 127.0.0.1.
	Forward map[int]int

	lan *LAN
	tls *tls.Config // remote control with the show network's key

	mu      sync.Mutex
	ctl     *client.Client
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
	stderr  bytes.Buffer
	booted  time.Time
	boots   int
}

func (v *VM) showSock() string { return filepath.Join(v.Dir, "show.sock") }
func (v *VM) qmpSock() string  { return filepath.Join(v.Dir, "qmp.sock") }

// SerialLog is where the guest's console (kernel and gokrazy init) went
// in its latest boot: serial-1.log for the first, and so on.
func (v *VM) SerialLog() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.serialLog()
}

func (v *VM) serialLog() string { return filepath.Join(v.Dir, fmt.Sprintf("serial-%d.log", v.boots)) }

// ShowMAC is the show NIC's MAC address.
func (v *VM) ShowMAC() string { return fmt.Sprintf("52:54:00:73:00:%02x", v.Index) }

// Addr is host:port on 127.0.0.1 that reaches guest port on this VM.
func (v *VM) Addr(guest int) string { return fmt.Sprintf("127.0.0.1:%d", v.Forward[guest]) }

func (v *VM) args() []string {
	var fwd []string
	for g, h := range v.Forward {
		fwd = append(fwd, fmt.Sprintf("hostfwd=tcp:127.0.0.1:%d-:%d", h, g))
	}
	return []string{
		"-name", v.Name,
		// -cpu max: AES-NI and carry-less multiply, which TCG runs as C
		// helpers, for the TLS between consoles; without them Go's
		// software AES-GCM runs instruction by instruction under emulation.
		"-machine", "pc", "-accel", "tcg", "-cpu", "max",
		"-m", "384", "-smp", "1",
		// The clock starts in 1970, as on a Raspberry Pi, which has no
		// real-time clock, on a show network without NTP: the image must
		// set it (from the time saved on /perm) before consoled makes its
		// TLS certificate.
		"-rtc", "base=1970-01-01T00:00:00",
		"-nodefaults", "-no-user-config", "-display", "none", "-vga", "none",
		"-serial", "file:" + v.serialLog(),
		"-qmp", "unix:" + v.qmpSock() + ",server=on,wait=off",
		"-drive", "file=" + v.Disk + ",format=raw,if=virtio,cache=writeback",
		"-netdev", "dgram,id=" + ShowNIC + ",local.type=unix,local.path=" + v.showSock() + ",remote.type=unix,remote.path=" + v.lan.Path(),
		"-device", "virtio-net-pci,netdev=" + ShowNIC + ",mac=" + v.ShowMAC(),
		"-netdev", "user,id=" + MgmtNIC + ",restrict=on," + strings.Join(fwd, ","),
		"-device", "virtio-net-pci,netdev=" + MgmtNIC,
	}
}

// Start powers the VM on. A VM that is on is refused.
func (v *VM) Start() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.cmd != nil {
		return fmt.Errorf("%s: already on", v.Name)
	}
	// A QEMU killed with -9 leaves its sockets behind; binding them again fails.
	os.Remove(v.showSock())
	os.Remove(v.qmpSock())
	v.boots++
	cmd := exec.Command("qemu-system-x86_64", v.args()...)
	v.stderr.Reset()
	cmd.Stdout = &v.stderr
	cmd.Stderr = &v.stderr
	// QEMU dies with the process that started it, even one killed with -9
	// before its cleanup ran. (Pdeathsig follows the starting thread; the
	// Go runtime does not end threads that have no locked goroutine.)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s: %w", v.Name, err)
	}
	v.cmd = cmd
	v.booted = time.Now()
	// A client of the console that was cut off would try its dead
	// connections first: each boot gets a new one.
	if v.ctl != nil {
		v.ctl.Close()
	}
	v.ctl = client.Remote(v.Addr(GuestPeerPort), v.tls)
	exited := make(chan struct{})
	v.exited = exited
	go func() {
		err := cmd.Wait()
		v.mu.Lock()
		v.waitErr = err
		v.mu.Unlock()
		close(exited)
	}()
	return nil
}

// Ctl is a client of the console's control API over remote control: TLS
// from the show network's key to its peer port, through the management
// NIC, as consolectl --remote talks to it. Each boot has its own.
func (v *VM) Ctl() *client.Client {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.ctl
}

// PoweredOn is when the VM was last started.
func (v *VM) PoweredOn() time.Time {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.booted
}

// Running reports whether QEMU is still running; if not, why it stopped.
func (v *VM) Running() (bool, error) {
	v.mu.Lock()
	exited := v.exited
	v.mu.Unlock()
	if exited == nil {
		return false, errors.New("not started")
	}
	select {
	case <-exited:
		v.mu.Lock()
		defer v.mu.Unlock()
		return false, fmt.Errorf("qemu exited (%v): %s", v.waitErr, strings.TrimSpace(v.stderr.String()))
	default:
		return true, nil
	}
}

// PowerCut kills QEMU with SIGKILL: whatever the guest had not written to
// its disk is gone, as in a power cut.
func (v *VM) PowerCut() error {
	v.mu.Lock()
	cmd, exited := v.cmd, v.exited
	v.cmd = nil
	v.mu.Unlock()
	if cmd == nil {
		return nil
	}
	err := cmd.Process.Signal(syscall.SIGKILL)
	<-exited
	v.mu.Lock()
	if v.ctl != nil {
		v.ctl.Close()
	}
	v.mu.Unlock()
	if errors.Is(err, os.ErrProcessDone) {
		err = nil
	}
	return err
}

// QMP runs one command on the VM's QEMU monitor (QMP) and returns its
// "return" value.
func (v *VM) QMP(ctx context.Context, command string, args any) (json.RawMessage, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", v.qmpSock())
	if err != nil {
		return nil, fmt.Errorf("%s: qmp: %w", v.Name, err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	} else {
		c.SetDeadline(time.Now().Add(10 * time.Second))
	}
	r := bufio.NewReader(c)
	// The greeting, then capabilities negotiation, then the command.
	if _, err := r.ReadBytes('\n'); err != nil {
		return nil, fmt.Errorf("%s: qmp greeting: %w", v.Name, err)
	}
	call := func(cmd string, args any) (json.RawMessage, error) {
		req := map[string]any{"execute": cmd}
		if args != nil {
			req["arguments"] = args
		}
		b, _ := json.Marshal(req)
		if _, err := c.Write(append(b, '\n')); err != nil {
			return nil, err
		}
		for {
			line, err := r.ReadBytes('\n')
			if err != nil {
				return nil, err
			}
			var resp struct {
				Return json.RawMessage `json:"return"`
				Error  *struct {
					Class, Desc string
				} `json:"error"`
				Event string `json:"event"`
			}
			if err := json.Unmarshal(line, &resp); err != nil {
				return nil, err
			}
			switch {
			case resp.Event != "":
				continue // asynchronous events are not answers
			case resp.Error != nil:
				return nil, fmt.Errorf("%s: %s", resp.Error.Class, resp.Error.Desc)
			default:
				return resp.Return, nil
			}
		}
	}
	if _, err := call("qmp_capabilities", nil); err != nil {
		return nil, fmt.Errorf("%s: qmp: %w", v.Name, err)
	}
	ret, err := call(command, args)
	if err != nil {
		return nil, fmt.Errorf("%s: qmp %s: %w", v.Name, command, err)
	}
	return ret, nil
}

// SetLink plugs (up) or pulls (down) the cable of one of the VM's NICs,
// as the QEMU monitor's set_link does: the guest's driver sees its carrier
// come and go.
func (v *VM) SetLink(ctx context.Context, nic string, up bool) error {
	_, err := v.QMP(ctx, "set_link", map[string]any{"name": nic, "up": up})
	return err
}

// freePorts finds n TCP ports on 127.0.0.1 that are free at the moment.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
