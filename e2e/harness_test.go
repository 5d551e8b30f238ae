// Package e2e runs real consoled and consolectl processes, built once per
// test run, the way a technician or a script uses them.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"consoled/api"
	"consoled/client"
)

var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "consoled-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	// The service is built with the race detector when the tests are, so
	// end-to-end runs check it too; consolectl is a thin client run hundreds
	// of times, so it is built plain to keep the tests quick.
	daemon := []string{"build", "-o", dir + "/"}
	if raceEnabled {
		daemon = append(daemon, "-race")
	}
	for _, args := range [][]string{
		append(daemon, "consoled/cmd/consoled"),
		{"build", "-o", dir + "/", "consoled/cmd/consolectl"},
	} {
		build := exec.Command("go", args...)
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building the binaries:", err)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// console is one running consoled process.
type console struct {
	t      *testing.T
	id     string
	data   string
	socket string
	args   []string
	netns  string // run inside this network namespace
	// program runs consoled when set (with args, which then name consoled),
	// for a test that starts it through a shell.
	program string
	cmd     *exec.Cmd
	log     *syncBuffer
	exited  chan struct{}
	err     error // Wait's result, valid after exited is closed
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor waits until the output holds any of texts. consoled's output
// reaches the buffer through a pipe copied by another goroutine, a moment
// after consoled wrote it: a line logged before an answer on the control
// API can still be missing when the answer arrives.
func (s *syncBuffer) waitFor(t *testing.T, who string, within time.Duration, texts ...string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		out := s.String()
		for _, text := range texts {
			if strings.Contains(out, text) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s's log has none of %q within %s:\n%s", who, texts, within, out)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// warnings are the WARN and ERROR lines of a log.
func warnings(log string) []string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") {
			out = append(out, l)
		}
	}
	return out
}

// waitLog waits until the console's log holds any of texts.
func (c *console) waitLog(within time.Duration, texts ...string) {
	c.t.Helper()
	c.log.waitFor(c.t, "consoled "+c.id, within, texts...)
}

// newConsole prepares a console with its own data dir; start runs it.
func newConsole(t *testing.T, id string, extra ...string) *console {
	t.Helper()
	data := t.TempDir()
	c := &console{t: t, id: id, data: data, socket: filepath.Join(data, "consoled.sock")}
	c.args = append([]string{"--id", id, "--data", data, "--board", "mock", "--http", "off", "--listen", "127.0.0.1:0"}, extra...)
	t.Cleanup(func() {
		c.kill()
		// The service is race-built under -race: a race it hit is a failure.
		if c.log != nil && strings.Contains(c.log.String(), "WARNING: DATA RACE") {
			t.Errorf("consoled %s hit a data race", id)
		}
		if t.Failed() && c.log != nil {
			t.Logf("consoled %s log:\n%s", id, c.log.String())
		}
	})
	return c
}

// start runs consoled and waits until its control API answers.
func (c *console) start() {
	c.t.Helper()
	c.log = &syncBuffer{}
	c.cmd = exec.Command(filepath.Join(binDir, "consoled"), c.args...)
	if c.program != "" {
		c.cmd = exec.Command(c.program, c.args...)
	}
	if c.netns != "" {
		// ip netns exec execs consoled in place, so killing this process
		// kills the console.
		c.cmd = exec.Command("ip", append([]string{"netns", "exec", c.netns, filepath.Join(binDir, "consoled")}, c.args...)...)
	}
	c.cmd.Stdout, c.cmd.Stderr = c.log, c.log
	if err := c.cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.exited = make(chan struct{})
	go func() { c.err = c.cmd.Wait(); close(c.exited) }()
	cl := client.Unix(c.socket)
	defer cl.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := cl.Status(ctx)
		cancel()
		if err == nil {
			return
		}
		select {
		case <-c.exited:
			c.t.Fatalf("consoled %s exited at start (%v):\n%s", c.id, c.err, c.log.String())
		default:
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("consoled %s did not answer within 20s: %v\n%s", c.id, err, c.log.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (c *console) client() *client.Client {
	cl := client.Unix(c.socket)
	c.t.Cleanup(cl.Close)
	return cl
}

// stop sends SIGTERM and returns the exit status.
func (c *console) stop() int {
	c.t.Helper()
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(30 * time.Second):
		c.t.Fatalf("consoled %s ignored SIGTERM for 30s", c.id)
	}
	return c.cmd.ProcessState.ExitCode()
}

// kill SIGKILLs a running console (a power cut) and waits for it.
func (c *console) kill() {
	if c.cmd == nil || c.cmd.Process == nil {
		return
	}
	select {
	case <-c.exited:
		return
	default:
	}
	c.cmd.Process.Kill()
	<-c.exited
}

// ctlResult is one consolectl run.
type ctlResult struct {
	out, err string
	code     int
}

// ctl runs consolectl against this console.
func (c *console) ctl(args ...string) ctlResult {
	c.t.Helper()
	return runCtl(c.t, "", append([]string{"--socket", c.socket}, args...)...)
}

func runCtl(t *testing.T, stdin string, args ...string) ctlResult {
	t.Helper()
	r, err := tryCtl(stdin, args...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// tryCtl runs consolectl; the error says it could not be run at all. Safe
// from any goroutine.
func tryCtl(stdin string, args ...string) (ctlResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "consolectl"), args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Stdin = strings.NewReader(stdin)
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return ctlResult{}, fmt.Errorf("consolectl %v: %v", args, err)
	}
	return ctlResult{out.String(), errb.String(), cmd.ProcessState.ExitCode()}, nil
}

// must runs consolectl and fails the test unless it exits 0.
func (c *console) must(args ...string) string {
	c.t.Helper()
	r := c.ctl(args...)
	if r.code != 0 {
		c.t.Fatalf("consolectl %v: exit %d: %s%s", args, r.code, r.out, r.err)
	}
	return r.out
}

func (c *console) status() api.Status {
	c.t.Helper()
	var st api.Status
	if err := json.Unmarshal([]byte(c.must("status", "--json")), &st); err != nil {
		c.t.Fatal(err)
	}
	return st
}

func (c *console) dump() api.Dump {
	c.t.Helper()
	var d api.Dump
	if err := json.Unmarshal([]byte(c.must("dump", "--json")), &d); err != nil {
		c.t.Fatal(err)
	}
	return d
}

// execConsoled prepares a consoled run that is expected to exit by itself.
func execConsoled(ctx context.Context, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, filepath.Join(binDir, "consoled"), args...)
}
