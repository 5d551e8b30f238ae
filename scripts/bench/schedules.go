package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

var (
	moreSchedules = flag.Int("schedules", 300, "randomized failure schedules on real TLS to run beyond go test's")
	simSchedules  = flag.Int("sim", 10000, "simulated failure schedules to run (seeds 1000 and up; make test runs 0-999)")
)

// simBench runs the deterministic simulation's fault schedules (seeds
// make test does not run), with the strict check, and prints how many
// failed, how long they took, and each failing seed's findings and replay
// command.
func simBench() {
	t0 := time.Now()
	cmd := exec.Command("go", "test", "-count=1", "-v", "-timeout", "3h", "-run", "TestSimulation$", "./replication",
		"-sim.from=1000", fmt.Sprintf("-sim.seeds=%d", *simSchedules))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var summary string
	var failures []string
	sc := bufio.NewScanner(&out)
	sc.Buffer(make([]byte, 1<<20), 256<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.Contains(line, "simulated schedules,") && strings.Contains(line, "failed, in"):
			summary = line[strings.Index(line, ": ")+2:]
		case strings.Contains(line, "simulated schedule ") && strings.Contains(line, " failed: "):
			failures = append(failures, line[strings.Index(line, "simulated schedule "):])
		case strings.HasPrefix(line, "replay: "):
			failures = append(failures, "  "+line)
		}
	}
	fmt.Println("## Deterministic simulation: fault schedules on a simulated clock and network (issue: the engine in parts)")
	fmt.Printf("%-58s %14s\n", "simulated schedules (seeds from 1000), failed, time", summary)
	fmt.Printf("%-58s %14s\n", "  wall time of the run, with the build", time.Since(t0).Round(time.Second))
	fmt.Printf("%-58s %14s\n", "  (target)", "10,000 ≤ 10 min")
	for _, f := range failures {
		fmt.Printf("  %s\n", f)
	}
	if err != nil && len(failures) == 0 {
		fmt.Printf("  go test: %v\n%s", err, out.String())
	}
	fmt.Println()
}

// schedulesBench runs the randomized failure schedules of the replication
// tests on seeds go test does not (200 and up), with their strict check
// (every acknowledged edit in the final live show), and prints each failing
// seed's steps.
func schedulesBench() {
	t0 := time.Now()
	cmd := exec.Command("go", "test", "-count=1", "-v", "-timeout", "3h", "-run", "TestRandomSchedules", "./replication",
		"-schedule.from=200", fmt.Sprintf("-schedule.seeds=%d", *moreSchedules))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	pass, fail := 0, 0
	var failed []string
	steps := map[string][]string{} // failing seed → its steps and findings
	var cur string                 // the seed whose failure output is being read
	sc := bufio.NewScanner(&out)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		raw := sc.Text()
		line := strings.TrimSpace(raw)
		switch {
		case strings.HasPrefix(line, "--- PASS: TestRandomSchedules/"):
			pass++
			cur = ""
		case strings.HasPrefix(line, "--- FAIL: TestRandomSchedules/"):
			fail++
			cur = strings.Fields(line)[2][len("TestRandomSchedules/"):]
			failed = append(failed, cur)
		case cur != "" && strings.Contains(line, "engine logs:"):
			cur = "" // the steps and findings are above the logs
		case cur != "" && (strings.HasPrefix(raw, "          ") || strings.Contains(line, "schedule_test.go")):
			steps[cur] = append(steps[cur], line)
		}
	}
	fmt.Println("## Randomized failure schedules, strict check (issue: no acknowledged edit leaves the live show)")
	fmt.Printf("%-58s %14d\n", "schedules run (seeds 200 and up; go test runs 0-199)", pass+fail)
	fmt.Printf("%-58s %14d\n", "  passed", pass)
	fmt.Printf("%-58s %14d\n", "  failed", fail)
	fmt.Printf("%-58s %14s\n", "  took", time.Since(t0).Round(time.Second))
	for _, seed := range failed {
		fmt.Printf("\n  schedule %s failed (replay: go test ./replication -run 'TestRandomSchedules/^%s$' -schedule.from=%s -schedule.seeds=1 -schedule.trace -v):\n", seed, seed, seed)
		for _, l := range steps[seed] {
			fmt.Printf("    %s\n", l)
		}
	}
	if err != nil && fail == 0 {
		fmt.Printf("  go test: %v\n%s", err, out.String())
	}
	fmt.Println()
}
