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

var moreSchedules = flag.Int("schedules", 500, "randomized failure schedules to run beyond the 200 of go test")

// schedulesBench runs the randomized failure schedules of the replication
// tests on seeds go test does not (200 and up), and counts what they found.
func schedulesBench() {
	t0 := time.Now()
	cmd := exec.Command("go", "test", "-count=1", "-v", "-timeout", "2h", "-run", "TestRandomSchedules", "./replication",
		"-schedule.from=200", fmt.Sprintf("-schedule.seeds=%d", *moreSchedules))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	pass, fail := 0, 0
	var failed, archivedOnly []string
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "--- PASS: TestRandomSchedules/"):
			pass++
		case strings.HasPrefix(line, "--- FAIL: TestRandomSchedules/"):
			fail++
			failed = append(failed, strings.Fields(line)[2])
		case strings.Contains(line, "acknowledged edits only in archives"):
			// "schedule_test.go:NNN: schedule N: K acknowledged edits only in archives: [...]"
			if i := strings.Index(line, "schedule "); i >= 0 {
				archivedOnly = append(archivedOnly, strings.TrimSuffix(strings.Fields(line[i:])[1], ":"))
			}
		}
	}
	fmt.Println("## Randomized failure schedules (issue: no show data lost)")
	fmt.Printf("%-58s %14d\n", "schedules run (seeds 200 and up; go test runs 0-199)", pass+fail)
	fmt.Printf("%-58s %14d\n", "  passed", pass)
	fmt.Printf("%-58s %14d\n", "  failed", fail)
	fmt.Printf("%-58s %14d\n", "  with acknowledged edits kept only in an archive", len(archivedOnly))
	if len(archivedOnly) > 0 {
		fmt.Printf("  (seeds %s: see why with -run 'TestRandomSchedules/^N$' -schedule.seeds=N+1 -schedule.trace -v)\n", strings.Join(archivedOnly, " "))
	}
	fmt.Printf("%-58s %14s\n", "  took", time.Since(t0).Round(time.Second))
	if fail > 0 {
		fmt.Printf("  failed: %s (rerun one: go test ./replication -run 'TestRandomSchedules/^N$' -schedule.seeds=N+1 -schedule.trace)\n", strings.Join(failed, " "))
	}
	if err != nil && fail == 0 {
		fmt.Printf("  go test: %v\n%s", err, out.String())
	}
	fmt.Println()
}
