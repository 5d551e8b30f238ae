package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"consoled/api"
)

// remote is consolectl on a machine of the show network that holds the
// network key and no console's socket: every command goes over the show
// network. $CONSOLED_SOCKET names a socket that does not exist, so a
// command that fell back to a socket would fail.
type remote struct {
	t   *testing.T
	key string
}

func (r remote) env(extra ...string) []string {
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "CONSOLED_") {
			env = append(env, e)
		}
	}
	return append(append(env, "CONSOLED_SOCKET=/nonexistent/consoled.sock"), extra...)
}

// run runs consolectl --remote addr --network-key key args.
func (r remote) run(addr string, args ...string) ctlResult {
	r.t.Helper()
	return r.runEnv(nil, append([]string{"--remote", addr, "--network-key", r.key}, args...)...)
}

func (r remote) runEnv(env []string, args ...string) ctlResult {
	r.t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "consolectl"), args...)
	cmd.Env = r.env(env...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		r.t.Fatal(err)
	}
	return ctlResult{out.String(), errb.String(), cmd.ProcessState.ExitCode()}
}

func (r remote) must(addr string, args ...string) string {
	r.t.Helper()
	res := r.run(addr, args...)
	if res.code != 0 {
		r.t.Fatalf("consolectl --remote %s %v: exit %d: %s%s", addr, args, res.code, res.out, res.err)
	}
	return res.out
}

func (r remote) status(addr string) api.Status {
	r.t.Helper()
	var st api.Status
	if err := json.Unmarshal([]byte(r.must(addr, "status", "--json")), &st); err != nil {
		r.t.Fatal(err)
	}
	return st
}

func (r remote) net(addr string) api.Net {
	r.t.Helper()
	var n api.Net
	if err := json.Unmarshal([]byte(r.must(addr, "net", "--json")), &n); err != nil {
		r.t.Fatal(err)
	}
	return n
}

// watch runs consolectl net --watch --json on addr until it has printed n
// lines, and stops it.
func (r remote) watch(addr string, n int) []string {
	r.t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "consolectl"), "--remote", addr, "--network-key", r.key, "net", "--watch", "--json", "--interval", "100ms")
	cmd.Env = r.env()
	out, err := cmd.StdoutPipe()
	if err != nil {
		r.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	timer := time.AfterFunc(30*time.Second, func() { cmd.Process.Kill() })
	defer timer.Stop()
	var lines []string
	sc := bufio.NewScanner(out)
	for len(lines) < n && sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) < n {
		r.t.Fatalf("net --watch printed %d lines in 30s, want %d: %v", len(lines), n, sc.Err())
	}
	return lines
}

// freeAddr is a loopback address free right now, for a console that must
// listen on the same one after a restart.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// comparable strips what two reads of a status may differ in while
// nothing happens: the descriptors (a remote client holds a few more).
func comparable(t *testing.T, out string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	delete(m, "descriptors")
	return m
}

// Three consoles driven only through --remote, from a client with the key
// and no socket: launch, edits, log-off, status, dump, archives, with the
// socket's output and exit statuses. A client with another key is refused
// and counted.
func TestRemoteControl(t *testing.T) {
	key := newKey(t)
	// desk-3 holds a different copy of demo from another day: joining
	// archives it, so that there is an archive to list.
	old := newConsole(t, "desk-3", "--network-key", key)
	old.start()
	old.must("launch", "demo")
	old.must("set", "cue/1", "another day")
	old.stop()
	cs := startNetwork(t, 2, key)
	old.args = append(old.args, "--peers", cs[0].listenAddr()+","+cs[1].listenAddr())
	old.start()
	cs = append(cs, old)
	r := remote{t, key}
	addr := map[*console]string{}
	for _, c := range cs {
		addr[c] = c.listenAddr()
	}

	want := map[string]string{}
	for i, c := range cs {
		out := r.must(addr[c], "launch", "demo")
		role := "backup"
		if i == 0 {
			role = "active"
			// An edit first: desk-3's copy then differs from the show
			// (an empty show would take its copy as newer instead).
			r.must(addr[c], "set", "cue/0", "first")
			want["cue/0"] = "first"
		}
		if !strings.HasPrefix(out, "demo: "+role) {
			t.Fatalf("%s: launch over the network said %q, want %s", c.id, out, role)
		}
	}
	for i := 0; i < 9; i++ {
		c := cs[i%3]
		k, v := fmt.Sprintf("cue/%d", i+10), fmt.Sprintf(`{"fade":%d,"from":%q}`, i, c.id)
		if out := r.must(addr[c], "set", k, v); !strings.HasPrefix(out, k+" set at seq ") {
			t.Fatalf("set on %s: %q", c.id, out)
		}
		want[k] = v
	}
	r.must(addr[cs[1]], "delete", "cue/10")
	delete(want, "cue/10")
	if got := strings.TrimSpace(r.must(addr[cs[2]], "get", "cue/11")); got != want["cue/11"] {
		t.Fatalf("get cue/11 on desk-3: %q", got)
	}
	// $CONSOLED_REMOTE and $CONSOLED_NETWORK_KEY name the console and key.
	if res := r.runEnv([]string{"CONSOLED_REMOTE=" + addr[cs[0]], "CONSOLED_NETWORK_KEY=" + key}, "set", "cue/99", "from the environment"); res.code != 0 {
		t.Fatalf("set with $CONSOLED_REMOTE: exit %d %s", res.code, res.err)
	}
	want["cue/99"] = "from the environment"
	d := waitConverged(t, cs)
	hasAll(t, "the show", d, want)

	for _, c := range cs {
		// Dump, archives and status: the socket's output, byte for byte
		// (status but for the descriptors in use).
		for _, args := range [][]string{{"dump", "--json"}, {"dump"}, {"archives", "--json"}, {"panel", "--json"}} {
			if got, local := r.must(addr[c], args...), c.must(args...); got != local {
				t.Fatalf("%s: %v over the network:\n%s\nover the socket:\n%s", c.id, args, got, local)
			}
		}
		waitFor(t, c.id+"'s status to read the same over the network", 10*time.Second, func() bool {
			return reflect.DeepEqual(comparable(t, r.must(addr[c], "status", "--json")), comparable(t, c.must("status", "--json")))
		})
	}
	var arch []api.Archive
	if err := json.Unmarshal([]byte(r.must(addr[old], "archives", "--json")), &arch); err != nil || len(arch) != 1 || arch[0].Show != "demo" {
		t.Fatalf("desk-3's archives over the network: %+v %v", arch, err)
	}
	if st := r.status(addr[cs[0]]); st.RemoteControl != "on" || st.Role != "active" || st.Seq != d.Seq {
		t.Fatalf("desk-1 over the network: remote control %q, role %q, seq %d", st.RemoteControl, st.Role, st.Seq)
	}

	// Errors: the socket's exit status and message.
	for _, args := range [][]string{{"get", "cue/404"}, {"launch", "other"}, {"set", "bad key", "x"}, {"restore", "no-such-archive"}} {
		rem, loc := r.run(addr[cs[1]], args...), cs[1].ctl(args...)
		if rem.code == 0 || rem.code != loc.code || rem.err != loc.err {
			t.Fatalf("%v: over the network exit %d %q, over the socket exit %d %q", args, rem.code, rem.err, loc.code, loc.err)
		}
	}
	if res := r.run(addr[cs[1]], "launch", "other"); res.code != api.ExitRefused {
		t.Fatalf("a second show over the network: exit %d, want %d", res.code, api.ExitRefused)
	}

	// Log-off over the network.
	r.must(addr[cs[2]], "logoff")
	if st := r.status(addr[cs[2]]); st.Role != "off" {
		t.Fatalf("desk-3 after a log-off over the network: %s", st.Role)
	}

	// Another key: refused, counted, nothing read.
	before := cs[0].status().AuthRefused
	wrong := remote{t, newKey(t)}
	res := wrong.run(addr[cs[0]], "dump")
	if res.code != api.ExitError || !strings.Contains(res.err, "not authenticated") || res.out != "" || strings.Count(strings.TrimSpace(res.err), "\n") != 0 {
		t.Fatalf("dump with another key: exit %d, stdout %q, stderr %q", res.code, res.out, res.err)
	}
	waitFor(t, "desk-1 to count the refused client", 10*time.Second, func() bool { return cs[0].status().AuthRefused > before })
	cs[0].waitLog(5*time.Second, "not authenticated")
}

// A console started with --remote-control off refuses every remote
// command, says so in status, and changes nothing.
func TestRemoteControlOff(t *testing.T) {
	key := newKey(t)
	c := newConsole(t, "desk-1", "--network-key", key, "--remote-control", "off")
	c.start()
	c.must("launch", "demo")
	c.must("set", "cue/1", "x")
	if st := c.status(); st.RemoteControl != "off" || st.Resume != nil {
		t.Fatalf("status says remote control %q, resume %+v (started without --resume)", st.RemoteControl, st.Resume)
	}
	r := remote{t, key}
	for _, args := range [][]string{{"status"}, {"set", "cue/1", "y"}, {"logoff"}, {"dump", "--json"}} {
		res := r.run(c.listenAddr(), args...)
		if res.code != api.ExitError || !strings.Contains(res.err, "desk-1 refuses remote control (consoled --remote-control off)") || res.out != "" {
			t.Fatalf("%v with remote control off: exit %d, stdout %q, stderr %q", args, res.code, res.out, res.err)
		}
	}
	if st := c.status(); st.Role != "active" || st.Seq != 1 {
		t.Fatalf("after the refusals: role %s seq %d", st.Role, st.Seq)
	}
	if got := strings.TrimSpace(c.must("get", "cue/1")); got != "x" {
		t.Fatalf("cue/1 is %q", got)
	}
}

// consolectl net lists every console of the show network, before and
// after a failover, asked over the network or through one console's
// socket.
func TestNetListsTheShowNetwork(t *testing.T) {
	key := newKey(t)
	cs := startNetwork(t, 3, key)
	launchAll(t, cs, "demo")
	for i := 0; i < 5; i++ {
		cs[i%3].must("set", fmt.Sprintf("cue/%d", i), "x")
	}
	waitConverged(t, cs)
	r := remote{t, key}
	addr := map[string]string{}
	for _, c := range cs {
		addr[c.id] = c.listenAddr()
	}
	check := func(n api.Net, want map[string]string, seq uint64) {
		t.Helper()
		got := map[string]string{}
		for _, c := range n.Consoles {
			got[c.Console] = c.Role
			if want[c.Console] == "gone" {
				if c.Error == "" || c.Address != addr[c.Console] {
					t.Fatalf("%s is gone, net shows %+v", c.Console, c)
				}
				got[c.Console] = "gone"
				continue
			}
			if c.Error != "" || c.Address != addr[c.Console] || c.Show != "demo" || c.Seq != seq || c.Lag == nil || *c.Lag != 0 || c.Link != "up" || len(c.Faults) != 0 {
				b, _ := json.Marshal(c)
				t.Fatalf("net shows %s", b)
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("net lists %v, want %v", got, want)
		}
	}
	seq := cs[0].status().Seq
	check(r.net(addr["desk-2"]), map[string]string{"desk-1": "active", "desk-2": "backup", "desk-3": "backup"}, seq)
	var viaSocket api.Net // the key comes from the console
	if err := json.Unmarshal([]byte(cs[2].must("net", "--json")), &viaSocket); err != nil {
		t.Fatal(err)
	}
	check(viaSocket, map[string]string{"desk-1": "active", "desk-2": "backup", "desk-3": "backup"}, seq)
	if out := r.must(addr["desk-3"], "net"); !strings.HasPrefix(out, "CONSOLE  ADDRESS") || strings.Count(out, "\n") != 4 || !strings.Contains(out, "desk-1") {
		t.Fatalf("net:\n%s", out)
	}
	// --watch --json: a line per refresh, until it is stopped.
	for i, line := range r.watch(addr["desk-1"], 3) {
		var n api.Net
		if err := json.Unmarshal([]byte(line), &n); err != nil || len(n.Consoles) != 3 {
			t.Fatalf("net --watch --json line %d: %v %q", i, err, line)
		}
	}

	cs[0].kill() // the active
	active := waitActiveAmong(t, cs[1:])
	active.must("set", "cue/after", "the failover")
	waitConverged(t, cs[1:])
	want := map[string]string{"desk-1": "gone", "desk-2": "backup", "desk-3": "backup"}
	want[active.id] = "active"
	seq = active.status().Seq
	waitFor(t, "net to list the new active", 10*time.Second, func() bool {
		n := r.net(addr["desk-3"])
		for _, c := range n.Consoles {
			if c.Console == active.id && c.Role == "active" {
				return true
			}
		}
		return false
	})
	check(r.net(addr["desk-3"]), want, seq)

	// desk-1 back on its address, launched over the network: a backup.
	cs[0].args = append(cs[0].args, "--listen", addr["desk-1"], "--peers", addr["desk-2"]+","+addr["desk-3"])
	cs[0].start()
	r.must(addr["desk-1"], "launch", "demo")
	waitConverged(t, cs)
	want["desk-1"] = "backup"
	check(r.net(addr["desk-2"]), want, seq)
}
