package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"consoled/replication/wire"
)

// soakIdle is how many idle connections the soak opens on each door.
const soakIdle = 1000

// soakBench (issue 13): 1,000 idle connections on each of the three doors of
// an active console (its peer port, control socket and status page) while
// clients edit on it. The edit rate is printed next to the rate without
// them, measured just before in the same run, with the console's
// descriptors and RSS before, during and after, and how many of the idle
// connections the console had closed by the end of the edit run (idle
// timeouts and per-source limits close them, which is the point).
//
//   - peer port: TCP connections that never start their TLS handshake,
//     from 100 loopback addresses (127.0.1.x), 10 from each: one address
//     may hold only 16 connections in their handshake;
//   - control socket: connections that never send a request;
//   - status page: keep-alive connections idle after one GET /status.json.
func soakBench(tmp string) {
	ctx := context.Background()
	dir := filepath.Join(tmp, "soak")
	key := filepath.Join(dir, "network.key")
	if _, _, err := wire.LoadOrCreateKey(key); err != nil {
		fatal(err)
	}
	httpAddr := freeLocalAddr()
	a := startConsole(dir, "desk-1", "--network-key", key, "--http", httpAddr)
	st, err := a.client.Status(ctx)
	if err != nil {
		fatal(err)
	}
	peerAddr := st.Listen
	b := startConsole(dir, "desk-2", "--network-key", key, "--peers", peerAddr)
	defer stopAll([]*console{a, b})
	for _, c := range []*console{a, b} {
		if _, err := c.client.Launch(ctx, "bench", false); err != nil {
			fatal(err)
		}
	}
	value := `{"fade":3,"delay":0,"level":100}`
	edits := func(prefix string) float64 {
		return throughput(*writers, *dur, func(w, i int) error {
			_, err := a.client.Set(ctx, fmt.Sprintf("%s/%d.%d", prefix, w, i), value)
			return err
		})
	}
	pid := a.cmd.Process.Pid
	limit := nofileLimit(pid)

	before := sample(pid)
	without := edits("base")

	opened := time.Now()
	doors := []*door{
		{name: "peer port (from 100 loopback addresses)", dial: func() (net.Conn, error) { return dialFromLoopback(peerAddr) }},
		{name: "control socket", dial: func() (net.Conn, error) { return net.Dial("unix", a.socket) }},
		{name: "status page", dial: func() (net.Conn, error) { return dialIdleHTTP(httpAddr) }},
	}
	for _, d := range doors {
		d.open(soakIdle)
	}
	defer func() {
		for _, d := range doors {
			d.closeAll()
		}
	}()
	atOpen := sample(pid)
	for _, d := range doors {
		d.openAtFirst = d.countOpen()
	}
	var mid procSample
	midDone := make(chan struct{})
	go func() {
		defer close(midDone)
		time.Sleep(*dur / 2)
		mid = sample(pid)
	}()
	with := edits("soak")
	<-midDone
	for _, d := range doors {
		d.openAfterRun = d.countOpen()
	}
	checked := time.Since(opened)

	for _, d := range doors {
		d.closeAll()
	}
	deadline := time.Now().Add(30 * time.Second)
	after := sample(pid)
	for after.fds > before.fds+16 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		after = sample(pid)
	}

	fmt.Printf("## Soak: %d idle connections on each of desk-1's three doors while %d clients edit (issue 13)\n", soakIdle, *writers)
	netHeader()
	netRow(fmt.Sprintf("acked edits/s with the idle connections, %d clients", *writers), fmt.Sprintf("%.0f/s", with), fmt.Sprintf("%.0f/s", without), with/without)
	fmt.Printf("%-58s %14s\n", "  (baseline: the same edits just before, without them)", "")
	fmt.Printf("%-58s %14s\n", fmt.Sprintf("descriptors of desk-1 (limit %s)", limit), "")
	for _, r := range []struct {
		what string
		s    procSample
	}{{"  before", before}, {"  with the idle connections just opened", atOpen}, {"  halfway through the edit run", mid}, {"  after they were closed", after}} {
		fmt.Printf("%-58s %14s\n", r.what, fmt.Sprintf("%d fds, %d MB", r.s.fds, r.s.rssKB>>10))
	}
	fmt.Printf("%-58s %14s\n", fmt.Sprintf("idle connections still open: once all were opened / %.0f s later", checked.Seconds()), "")
	for _, d := range doors {
		refused := ""
		if d.failed > 0 {
			refused = fmt.Sprintf(" (%d not opened: %v)", d.failed, d.err)
		}
		fmt.Printf("%-58s %14s\n", fmt.Sprintf("  %s, of %d%s", d.name, d.opened, refused), fmt.Sprintf("%d / %d", d.openAtFirst, d.openAfterRun))
	}
	fmt.Println()
}

// door is one way into the console, with the idle connections on it.
type door struct {
	name   string
	dial   func() (net.Conn, error)
	conns  []net.Conn
	opened int
	failed int
	err    error // the first dial error

	openAtFirst, openAfterRun int // the connections the console had not closed
}

func (d *door) open(n int) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := d.dial()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				d.failed++
				if d.err == nil {
					d.err = err
				}
				return
			}
			d.conns = append(d.conns, c)
		}()
	}
	wg.Wait()
	d.opened = len(d.conns)
}

// countOpen counts the connections the console has not closed: a read
// that times out finds the connection still there.
func (d *door) countOpen() int {
	n := 0
	buf := make([]byte, 1)
	for _, c := range d.conns {
		c.SetReadDeadline(time.Now().Add(time.Millisecond))
		_, err := c.Read(buf)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			n++
		}
	}
	return n
}

func (d *door) closeAll() {
	for _, c := range d.conns {
		c.Close()
	}
	d.conns = d.conns[:0]
}

var nextSource atomic.Int64

// dialFromLoopback connects to addr from the next of 100 loopback
// addresses, in turn.
func dialFromLoopback(addr string) (net.Conn, error) {
	src := &net.TCPAddr{IP: net.IPv4(127, 0, 1, byte(1+nextSource.Add(1)%100))}
	d := net.Dialer{LocalAddr: src}
	return d.Dial("tcp", addr)
}

// dialIdleHTTP opens a keep-alive connection to the status page, reads one
// answer on it and leaves it idle.
func dialIdleHTTP(addr string) (net.Conn, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	if _, err := io.WriteString(c, "GET /status.json HTTP/1.1\r\nHost: bench\r\n\r\n"); err != nil {
		c.Close()
		return nil, err
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	c.SetReadDeadline(time.Time{})
	if err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// freeLocalAddr returns a loopback address with a port free a moment ago.
func freeLocalAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

type procSample struct {
	fds   int
	rssKB int64
}

// sample reads a process's open descriptors and resident memory.
func sample(pid int) procSample {
	var s procSample
	if ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err == nil {
		s.fds = len(ents)
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
				s.rssKB, _ = strconv.ParseInt(f[1], 10, 64)
			}
		}
	}
	return s
}

// nofileLimit is a process's soft descriptor limit, as /proc shows it.
func nofileLimit(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		return "?"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "Max open files") {
			if f := strings.Fields(line); len(f) >= 5 {
				return f[3]
			}
		}
	}
	return "?"
}
