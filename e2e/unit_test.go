package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The systemd unit passes systemd-analyze verify, with the consoled this
// run built as its program.
func TestSystemdUnitVerifies(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed")
	}
	unit, err := os.ReadFile("../dist/consoled.service")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(unit), "/usr/local/bin/consoled", filepath.Join(binDir, "consoled"))
	if !strings.Contains(text, "Type=notify") || !strings.Contains(text, "WatchdogSec=") || !strings.Contains(text, "ProtectSystem=strict") {
		t.Fatalf("the unit lost Type=notify, its watchdog or its hardening:\n%s", text)
	}
	path := filepath.Join(t.TempDir(), "consoled.service")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil || strings.Contains(string(out), "consoled.service") {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}
