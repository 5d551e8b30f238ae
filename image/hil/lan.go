package hil

import (
	"errors"
	"net"
	"os"
	"sync"
	"syscall"
)

// LAN is the show network: an Ethernet hub in this process. Each VM's show
// NIC is a QEMU "-netdev dgram" on a unix datagram socket of its own, whose
// remote end is the hub's socket; the hub repeats every frame to every other
// port. Nothing leaves this machine, and nothing needs root.
type LAN struct {
	conn *net.UnixConn
	raw  syscall.RawConn
	path string

	mu    sync.Mutex
	ports []*net.UnixAddr

	done chan struct{}
}

// NewLAN listens on a unix datagram socket at path.
func NewLAN(path string) (*LAN, error) {
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return nil, err
	}
	raw, err := c.SyscallConn()
	if err != nil {
		c.Close()
		return nil, err
	}
	l := &LAN{conn: c, raw: raw, path: path, done: make(chan struct{})}
	go l.run()
	return l, nil
}

// Path is the hub's socket: the NICs' remote.path.
func (l *LAN) Path() string { return l.path }

// Plug adds a port: the socket a NIC binds (its local.path). Frames go to
// it from now on; while nothing is bound there they are dropped, as a hub
// drops them for an unplugged port.
func (l *LAN) Plug(path string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ports = append(l.ports, &net.UnixAddr{Name: path, Net: "unixgram"})
}

// send gives frame to the port at path, or drops it. It never waits: a
// port whose QEMU does not read (a VM in its BIOS, before its NIC's driver
// is up) holds only a few datagrams (net.unix.max_dgram_qlen), and a hub
// that waited for it would stall the whole LAN, as it did once: the other
// consoles' transmit queues timed out while one console rebooted.
func (l *LAN) send(frame []byte, path string) {
	sa := &syscall.SockaddrUnix{Name: path}
	_ = l.raw.Write(func(fd uintptr) bool {
		// Full (EAGAIN), unbound (ECONNREFUSED) or gone (ENOENT): the frame
		// is lost, as a switch drops it for a congested or unplugged port.
		_ = syscall.Sendto(int(fd), frame, syscall.MSG_DONTWAIT, sa)
		return true
	})
}

func (l *LAN) run() {
	defer close(l.done)
	buf := make([]byte, 65536)
	for {
		n, from, err := l.conn.ReadFromUnix(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		l.mu.Lock()
		ports := l.ports
		l.mu.Unlock()
		for _, p := range ports {
			if from != nil && p.Name == from.Name {
				continue
			}
			l.send(buf[:n], p.Name)
		}
	}
}

// Close stops the hub and removes its socket.
func (l *LAN) Close() error {
	err := l.conn.Close()
	<-l.done
	os.Remove(l.path)
	return err
}
