// Command bench measures consoled the way the issues ask, each figure next to
// a baseline measured in the same run on the same machine. Run it with
// `make bench` (which builds bin/ first).
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"consoled/client"
	"consoled/replication/store/storebench"
)

var (
	bin      = flag.String("bin", "bin", "folder with consoled and consolectl")
	dur      = flag.Duration("d", 5*time.Second, "duration of each throughput run")
	writers  = flag.Int("writers", 64, "concurrent clients in throughput runs")
	latN     = flag.Int("n", 2000, "sequential edits for the latency run")
	keepData = flag.Bool("keep", false, "keep the bench's data folders")
	only     = flag.String("only", "", "run only these sections (comma-separated: sizes, single, network, edits, latency, remote, failover, handover, sim, schedules, nic, soak, image; edits and latency are parts of network alone; scale, blackout and bigshow run only when named)")
	logLevel = flag.String("log-level", "warn", "the consoles' --log-level (info shows each full copy's timings)")
	cpuProf  = flag.String("cpuprofile", "", "write CPU profiles of the bench's consoles (ID.prof) and of the bench itself (bench.prof) to this folder")
)

// section reports whether a section of the bench is to run.
func section(name string) bool {
	if *only == "" {
		return true
	}
	for _, s := range strings.Split(*only, ",") {
		if strings.TrimSpace(s) == name {
			return true
		}
	}
	return false
}

func main() {
	flag.Parse()
	log.SetFlags(0)
	tmp, err := os.MkdirTemp("", "consoled-bench-")
	if err != nil {
		fatal(err)
	}
	benchTmp = tmp
	if !*keepData {
		defer os.RemoveAll(tmp)
	}
	if *cpuProf != "" {
		if err := os.MkdirAll(*cpuProf, 0o755); err != nil {
			fatal(err)
		}
		f, err := os.Create(filepath.Join(*cpuProf, "bench.prof"))
		if err != nil {
			fatal(err)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	fmt.Printf("consoled bench — %s, %d writers, %s runs\n\n", time.Now().Format(time.RFC3339), *writers, *dur)
	if section("sizes") {
		binarySizes(tmp)
	}
	if section("single") {
		singleConsole(tmp)
	}
	if section("network") {
		networkBench(tmp)
	}
	if section("edits") && !section("network") {
		fmt.Println("## Show network: edit throughput alone (-only edits)")
		netHeader()
		editThroughput(tmp)
		fmt.Println()
	}
	if section("latency") && !section("network") {
		fmt.Println("## Show network: ack=all latency alone (-only latency)")
		netHeader()
		ackAllLatency(tmp)
		fmt.Println()
	}
	if section("remote") {
		remoteBench(tmp)
	}
	if section("failover") {
		failoverBench(tmp)
	}
	if section("handover") {
		handOverBench(tmp)
	}
	if section("sim") {
		simBench()
	}
	if section("schedules") {
		schedulesBench()
	}
	if section("nic") {
		benchNIC(tmp)
	}
	if section("soak") {
		soakBench(tmp)
	}
	if section("image") {
		benchImage()
	}
	// The scale sections take many minutes and gigabytes: only when named.
	if named("scale") {
		scaleBench(tmp)
	}
	if named("blackout") {
		blackoutBench(tmp)
	}
	if named("bigshow") {
		bigShowBench(tmp)
	}
}

// named reports whether -only names a section.
func named(name string) bool {
	return *only != "" && section(name)
}

var (
	benchTmp  string
	startedMu sync.Mutex
	started   []*console
)

// fatal stops every console the bench started and removes its data before
// exiting, so a failed run leaves no processes or folders behind.
func fatal(v ...any) {
	cleanupRigs()
	startedMu.Lock()
	for _, c := range started {
		c.cmd.Process.Kill()
		c.cmd.Wait()
	}
	startedMu.Unlock()
	if benchTmp != "" && !*keepData {
		os.RemoveAll(benchTmp)
	}
	log.Fatal(v...)
}

func fatalf(format string, v ...any) { fatal(fmt.Sprintf(format, v...)) }

// console is a consoled process started for the bench.
type console struct {
	cmd    *exec.Cmd
	socket string
	client *client.Client
	// post makes edits as any HTTP client can, with POST /v1/edit on
	// kept-alive connections, one per writer.
	post *client.Client
}

func startConsole(dir, id string, extra ...string) *console {
	data := filepath.Join(dir, id)
	args := append([]string{"--id", id, "--data", data, "--http", "off", "--listen", "127.0.0.1:0", "--log-level", *logLevel}, extra...)
	cmd := exec.Command(filepath.Join(*bin, "consoled"), args...)
	cmd.Stderr = os.Stderr
	if *cpuProf != "" {
		cmd.Env = append(os.Environ(), "CONSOLED_CPUPROFILE="+filepath.Join(*cpuProf, id+".prof"))
	}
	if err := cmd.Start(); err != nil {
		fatal(err)
	}
	c := &console{cmd: cmd, socket: filepath.Join(data, "consoled.sock")}
	startedMu.Lock()
	started = append(started, c)
	startedMu.Unlock()
	c.client = client.Unix(c.socket)
	c.post = client.New(client.DialUnix(c.socket), client.Options{Where: c.socket, IdleConns: *writers})
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := c.client.Status(context.Background()); err == nil {
			return c
		} else if time.Now().After(deadline) {
			fatalf("consoled %s did not start: %v", id, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (c *console) stop() {
	c.client.Close()
	c.post.Close()
	c.cmd.Process.Signal(os.Interrupt)
	c.cmd.Wait()
}

// throughput runs workers clients doing fn for d and returns completions per second.
func throughput(workers int, d time.Duration, fn func(w, i int) error) float64 {
	var n atomic.Int64
	var wg sync.WaitGroup
	stop := time.Now().Add(d)
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(stop); i++ {
				if err := fn(w, i); err != nil {
					fatal(err)
				}
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	return float64(n.Load()) / time.Since(start).Seconds()
}

// setLatency times n sequential edits made by fn.
func setLatency(n int, fn func(i int) error) (p50, p99 time.Duration) {
	lat := make([]time.Duration, n)
	for i := range lat {
		t0 := time.Now()
		if err := fn(i); err != nil {
			fatal(err)
		}
		lat[i] = time.Since(t0)
	}
	return percentiles(lat)
}

func percentiles(ds []time.Duration) (p50, p99 time.Duration) {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[len(ds)*50/100], ds[len(ds)*99/100]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3f ms", float64(d.Microseconds())/1000) }

// singleConsole: acknowledged edits through the control API on one console,
// the latency of one set, and raw Pebble synced writes as the baseline.
func singleConsole(tmp string) {
	ctx := context.Background()
	c := startConsole(tmp, "bench-1")
	defer c.stop()
	if _, err := c.client.Launch(ctx, "bench", false); err != nil {
		fatal(err)
	}
	value := `{"fade":3,"delay":0,"level":100}`
	apiRate := throughput(*writers, *dur, func(w, i int) error {
		_, err := c.client.Set(ctx, fmt.Sprintf("cue/%d.%d", w, i), value)
		return err
	})
	postRate := throughput(*writers, *dur, func(w, i int) error {
		_, err := c.post.PostEdit(ctx, fmt.Sprintf("post/%d.%d", w, i), value, false)
		return err
	})
	p50, p99 := setLatency(*latN, func(i int) error {
		_, err := c.client.Set(ctx, fmt.Sprintf("lat/%d", i), value)
		return err
	})
	q50, q99 := setLatency(*latN, func(i int) error {
		_, err := c.post.PostEdit(ctx, fmt.Sprintf("latpost/%d", i), value, false)
		return err
	})

	// The whole consolectl process, as a script would run it.
	cli := make([]time.Duration, 100)
	for i := range cli {
		t0 := time.Now()
		out, err := exec.Command(filepath.Join(*bin, "consolectl"), "--socket", c.socket, "set", fmt.Sprintf("cli/%d", i), value).CombinedOutput()
		if err != nil {
			fatalf("consolectl set: %v: %s", err, out)
		}
		cli[i] = time.Since(t0)
	}
	c50, c99 := percentiles(cli)

	rawDir := filepath.Join(tmp, "raw")
	rawRate, err := storebench.RawSyncedWriteRate(rawDir, *writers, *dur)
	if err != nil {
		fatal(err)
	}

	fmt.Println("## One console on the mock board (issue: single console)")
	fmt.Printf("%-58s %14s\n", "measure", "value")
	fmt.Printf("%-58s %12.0f/s\n", fmt.Sprintf("acknowledged edits via the edit stream (%d clients)", *writers), apiRate)
	fmt.Printf("%-58s %12.0f/s\n", fmt.Sprintf("acknowledged edits via plain POST /v1/edit (%d clients)", *writers), postRate)
	fmt.Printf("%-58s %14s\n", fmt.Sprintf("one set via the edit stream, p50 (%d sequential)", *latN), ms(p50))
	fmt.Printf("%-58s %14s\n", "one set via the edit stream, p99", ms(p99))
	fmt.Printf("%-58s %14s\n", "one set via plain POST /v1/edit, p50", ms(q50))
	fmt.Printf("%-58s %14s\n", "one set via plain POST /v1/edit, p99", ms(q99))
	fmt.Printf("%-58s %14s\n", "one `consolectl set` process, p50 (100 runs)", ms(c50))
	fmt.Printf("%-58s %14s\n", "one `consolectl set` process, p99", ms(c99))
	fmt.Printf("%-58s %12.0f/s\n", fmt.Sprintf("baseline: raw Pebble synced batches (%d writers)", *writers), rawRate)
	fmt.Printf("%-58s %14.2f\n", "ratio: stream edits / raw Pebble", apiRate/rawRate)
	fmt.Printf("%-58s %14.2f\n", "ratio: POST edits / raw Pebble", postRate/rawRate)
	fmt.Println()
}

// binarySizes prints the size of both programs as built in -bin, and
// stripped of their symbol tables and DWARF (-ldflags=-s -w), the way an
// image would ship them.
func binarySizes(tmp string) {
	fmt.Println("## Binary sizes")
	fmt.Printf("%-58s %14s %14s\n", "program", "as built", "stripped")
	dir := filepath.Join(tmp, "stripped")
	build := exec.Command("go", "build", "-ldflags=-s -w", "-o", dir+"/", "./cmd/consoled", "./cmd/consolectl")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fatalf("building stripped binaries: %v", err)
	}
	for _, name := range []string{"consoled", "consolectl"} {
		size := func(path string) string {
			fi, err := os.Stat(path)
			if err != nil {
				fatal(err)
			}
			return fmt.Sprintf("%.1f MB", float64(fi.Size())/1e6)
		}
		fmt.Printf("%-58s %14s %14s\n", name, size(filepath.Join(*bin, name)), size(filepath.Join(dir, name)))
	}
	fmt.Println()
}
