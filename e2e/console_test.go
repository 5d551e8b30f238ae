package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The README's first steps: launch, one edit, status.
func TestQuickstart(t *testing.T) {
	c := newConsole(t, "desk-1")
	c.start()
	c.must("launch", "demo")
	c.must("set", "cue/1", `{"fade":3}`)
	st := c.status()
	if st.Role != "active" || st.Seq != 1 || st.LEDs["active"] != "on" || st.Show != "demo" {
		t.Fatalf("status after launch+set: role %q seq %d leds %v show %q", st.Role, st.Seq, st.LEDs, st.Show)
	}
	if st.Console != "desk-1" || st.Link != "up" || st.Stale || st.Peers == nil || st.Epoch == "" {
		t.Fatalf("status: %+v", st)
	}
	if got := strings.TrimSpace(c.must("get", "cue/1")); got != `{"fade":3}` {
		t.Fatalf("get cue/1 = %q", got)
	}
	if code := c.stop(); code != 0 {
		t.Fatalf("SIGTERM exit status %d", code)
	}
}

// digestOf computes the Contract's digest independently of the store.
func digestOf(objs map[string]string) string {
	keys := make([]string, 0, len(objs))
	for k := range objs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h := sha256.New()
	var n [binary.MaxVarintLen64]byte
	for _, k := range keys {
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(k)))])
		h.Write([]byte(k))
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(objs[k])))])
		h.Write([]byte(objs[k]))
	}
	return hex.EncodeToString(h.Sum(nil))
}

func TestEditsDumpAndRestart(t *testing.T) {
	c := newConsole(t, "desk-1")
	c.start()
	c.must("launch", "demo")
	want := map[string]string{}
	for i := 1; i <= 20; i++ {
		k, v := fmt.Sprintf("cue/%d", i), fmt.Sprintf(`{"fade":%d}`, i)
		c.must("set", k, v)
		want[k] = v
	}
	c.must("set", "cue/3", "overwritten")
	want["cue/3"] = "overwritten"
	c.must("delete", "cue/7")
	delete(want, "cue/7")
	checkDump := func(when string) {
		t.Helper()
		d := c.dump()
		got := map[string]string{}
		for i, o := range d.Objects {
			if i > 0 && d.Objects[i-1].Key >= o.Key {
				t.Fatalf("%s: dump not sorted at %q", when, o.Key)
			}
			got[o.Key] = o.Value
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%s: dump = %v, want %v", when, got, want)
		}
		if d.Digest != digestOf(want) || d.Show != "demo" || d.Seq != 22 {
			t.Fatalf("%s: dump show %q seq %d digest %s, want demo 22 %s", when, d.Show, d.Seq, d.Digest, digestOf(want))
		}
	}
	checkDump("running")
	text := c.must("dump")
	if !strings.Contains(text, "cue/1\t{\"fade\":1}\n") || !strings.Contains(text, "digest "+digestOf(want)) {
		t.Fatalf("text dump:\n%s", text)
	}

	// A clean stop logs off; a restart keeps everything, and the LAUNCH
	// button reopens the last show as active.
	if code := c.stop(); code != 0 {
		t.Fatalf("SIGTERM exit status %d", code)
	}
	c.start()
	if st := c.status(); st.Role != "off" || st.LEDs["active"] != "off" {
		t.Fatalf("after restart: role %q leds %v", st.Role, st.LEDs)
	}
	out := c.must("press", "launch")
	if !strings.Contains(out, "launch demo") {
		t.Fatalf("press launch said %q", out)
	}
	st := c.status()
	if st.Role != "active" || st.Show != "demo" || st.Seq != 22 || len(st.Epochs) != 2 {
		t.Fatalf("after press launch: role %q show %q seq %d epochs %v", st.Role, st.Show, st.Seq, st.Epochs)
	}
	checkDump("restarted")
}

// Every edit acknowledged before a power cut (SIGKILL) is there after restart.
func TestKillKeepsAcknowledgedEdits(t *testing.T) {
	c := newConsole(t, "desk-1")
	c.start()
	c.must("launch", "demo")
	cl := c.client()
	var (
		mu    sync.Mutex
		acked = map[string]string{}
		n     atomic.Int64
		wg    sync.WaitGroup
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				k, v := fmt.Sprintf("cue/%d.%d", w, i), fmt.Sprintf("v%d", i)
				if _, err := cl.Set(ctx, k, v); err != nil {
					return // the console is gone
				}
				mu.Lock()
				acked[k] = v
				mu.Unlock()
				n.Add(1)
			}
		}()
	}
	deadline := time.Now().Add(30 * time.Second)
	for n.Load() < 500 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	c.kill()
	cancel()
	wg.Wait()
	if n.Load() < 500 {
		t.Fatalf("only %d edits acknowledged in 30s", n.Load())
	}
	c.start()
	c.must("launch", "demo")
	got := map[string]string{}
	for _, o := range c.dump().Objects {
		got[o.Key] = o.Value
	}
	missing := 0
	for k, v := range acked {
		if got[k] != v {
			missing++
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d acknowledged edits missing after SIGKILL", missing, len(acked))
	}
	t.Logf("%d acknowledged edits all present after SIGKILL", len(acked))
}

// The front panel through the mock board: buttons, link and LEDs.
func TestFrontPanel(t *testing.T) {
	c := newConsole(t, "desk-1", "--show", "demo")
	c.start()
	panel := func() string { return c.must("panel") }
	if p := panel(); !strings.Contains(p, "active  off") || !strings.Contains(p, "link    on") {
		t.Fatalf("panel at start:\n%s", p)
	}
	c.must("press", "launch") // the configured default show
	if st := c.status(); st.Role != "active" || st.Show != "demo" || st.LEDs["active"] != "on" || st.LEDs["backup"] != "off" {
		t.Fatalf("after press launch: %+v", st)
	}
	c.must("link", "down")
	if st := c.status(); st.Link != "down" || st.LEDs["link"] != "off" || st.Role != "active" {
		t.Fatalf("after link down: link %q leds %v role %q", st.Link, st.LEDs, st.Role)
	}
	c.must("set", "cue/1", "still works alone") // availability first
	c.must("link", "up")
	if st := c.status(); st.Link != "up" || st.LEDs["link"] != "on" {
		t.Fatalf("after link up: link %q leds %v", st.Link, st.LEDs)
	}
	c.must("press", "logoff")
	if st := c.status(); st.Role != "off" || st.LEDs["active"] != "off" {
		t.Fatalf("after press logoff: %+v", st)
	}
	// Holding LAUNCH for 3 s is the forced launch.
	out := c.must("press", "launch", "--hold", "3s")
	if !strings.Contains(out, "hold launch") || !strings.Contains(out, "--force") {
		t.Fatalf("press --hold 3s said %q", out)
	}
	if st := c.status(); st.Role != "active" {
		t.Fatalf("after hold launch: role %q", st.Role)
	}
}

func TestCLIErrors(t *testing.T) {
	c := newConsole(t, "desk-1")
	c.start()
	big := strings.Repeat("x", 1<<20+1)
	for _, tc := range []struct {
		name  string
		args  []string
		stdin string
		code  int
		want  string // in stderr
	}{
		{"no command", nil, "", 2, "usage"},
		{"unknown command", []string{"frobnicate"}, "", 2, "frobnicate"},
		{"set one arg", []string{"set", "cue/1"}, "", 2, "KEY VALUE"},
		{"unknown flag", []string{"status", "--yaml"}, "", 2, "--yaml"},
		{"bad hold", []string{"press", "launch", "--hold", "long"}, "", 2, "--hold"},
		{"unknown button", []string{"press", "go"}, "", 2, `"go"`},
		{"link sideways", []string{"link", "sideways"}, "", 2, "up or down"},
		{"set before launch", []string{"set", "cue/1", "x"}, "", 1, "not logged on"},
		{"bad show name", []string{"launch", "../etc"}, "", 1, "show"},
		{"launch", []string{"launch", "demo"}, "", 0, ""},
		{"key without kind", []string{"set", "cue", "x"}, "", 1, "kind/id"},
		{"key with space", []string{"set", "cue/1 2", "x"}, "", 1, "cue/1 2"},
		{"key too long", []string{"set", "cue/" + strings.Repeat("9", 253), "x"}, "", 1, "256"},
		{"value too big", []string{"set", "cue/1", "-"}, big, 1, "1048576"},
		{"value not text", []string{"set", "cue/1", "-"}, "\xff\xfe", 1, "UTF-8"},
		{"get missing", []string{"get", "cue/404"}, "", 1, "cue/404"},
		{"get malformed", []string{"get", "nokind"}, "", 1, "kind/id"},
		{"other show while active", []string{"launch", "other"}, "", 3, "log off first"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCtl(t, tc.stdin, append([]string{"--socket", c.socket}, tc.args...)...)
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d; stdout %q stderr %q", r.code, tc.code, r.out, r.err)
			}
			if !strings.Contains(r.err, tc.want) {
				t.Errorf("stderr %q does not name %q", r.err, tc.want)
			}
			if tc.code == 1 || tc.code == 3 {
				if lines := strings.Count(strings.TrimSpace(r.err), "\n"); lines != 0 {
					t.Errorf("error is not one line: %q", r.err)
				}
			}
		})
	}
	// Nothing the bad input tried is in the show: only the launch happened.
	if st := c.status(); st.Seq != 0 || st.Show != "demo" {
		t.Fatalf("bad input changed the show: seq %d show %q", st.Seq, st.Show)
	}
	r := runCtl(t, "", "--socket", filepath.Join(t.TempDir(), "nobody.sock"), "status")
	if r.code != 1 || !strings.Contains(r.err, "cannot reach consoled") {
		t.Fatalf("no daemon: exit %d %q", r.code, r.err)
	}
}

func TestConsoledStartErrors(t *testing.T) {
	c := newConsole(t, "desk-1")
	c.start()
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"data dir in use", []string{"--data", c.data, "--http", "off", "--listen", "127.0.0.1:0"}, 1, "in use"},
		{"unknown board", []string{"--data", t.TempDir(), "--board", "nonsense", "--http", "off"}, 1, "nonsense"},
		{"unknown flag", []string{"--colour", "red"}, 2, "colour"},
		{"broken config", []string{"--config", writeFile(t, "board: [mock\n")}, 1, "config"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := execConsoled(ctx, tc.args...)
			out, _ := cmd.CombinedOutput()
			if cmd.ProcessState.ExitCode() != tc.code || !strings.Contains(string(out), tc.want) {
				t.Fatalf("exit %d, want %d; output %q should name %q", cmd.ProcessState.ExitCode(), tc.code, out, tc.want)
			}
		})
	}
}

func writeFile(t *testing.T, body string) string {
	p := filepath.Join(t.TempDir(), "consoled.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
