package firmware

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "consoled.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigDefaults(t *testing.T) {
	cfg, err := ParseArgs([]string{"--data", "/tmp/x"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Board != "mock" || cfg.Listen != ":7400" || cfg.HTTP != "127.0.0.1:7480" {
		t.Errorf("defaults: %+v", cfg)
	}
	if cfg.Control != "/tmp/x/consoled.sock" || cfg.NetworkKey != "/tmp/x/network.key" {
		t.Errorf("DATA-relative defaults: control %q key %q", cfg.Control, cfg.NetworkKey)
	}
	if cfg.Resume || cfg.RemoteControl != "on" {
		t.Errorf("resume %v, remote control %q; want off and on", cfg.Resume, cfg.RemoteControl)
	}
}

// --resume and --remote-control are flags and keys of the file.
func TestConfigResumeAndRemoteControl(t *testing.T) {
	p := writeConfig(t, "resume: true\nremote-control: \"off\"\n")
	cfg, err := ParseArgs([]string{"--config", p}, io.Discard)
	if err != nil || !cfg.Resume || cfg.RemoteControl != "off" {
		t.Fatalf("from the file: resume %v remote control %q (%v)", cfg.Resume, cfg.RemoteControl, err)
	}
	cfg, err = ParseArgs([]string{"--config", p, "--resume=false", "--remote-control", "on"}, io.Discard)
	if err != nil || cfg.Resume || cfg.RemoteControl != "on" {
		t.Fatalf("flags over the file: resume %v remote control %q (%v)", cfg.Resume, cfg.RemoteControl, err)
	}
}

func TestConfigFileAndFlags(t *testing.T) {
	p := writeConfig(t, "id: desk-2\ndata: /srv/show\npeers: [a:7400, b:7401]\nmaster: true\nhttp: \"off\"\nshow: demo\n")
	cfg, err := ParseArgs([]string{"--config", p, "--id", "desk-9"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ID != "desk-9" {
		t.Errorf("flag should win over file: id %q", cfg.ID)
	}
	if cfg.Data != "/srv/show" || !cfg.Master || cfg.HTTP != "off" || cfg.Show != "demo" {
		t.Errorf("file keys not applied: %+v", cfg)
	}
	if strings.Join(cfg.Peers, ",") != "a:7400,b:7401" {
		t.Errorf("peers %v", cfg.Peers)
	}
	// The flag's comma-separated spelling works in the file too.
	p = writeConfig(t, "peers: \"a:1, b:2\"\n")
	if cfg, err = ParseArgs([]string{"--config", p}, io.Discard); err != nil || len(cfg.Peers) != 2 {
		t.Fatalf("peers as string: %v %v", cfg.Peers, err)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		file  string
		args  []string
		usage bool
		want  string
	}{
		{"unknown key", "id: a\nbord: mock\n", nil, false, "bord"},
		{"broken yaml", "id: [a\n", nil, false, "consoled.yaml"},
		{"wrong type", "master: maybe\n", nil, false, "line 1"},
		{"missing file", "", []string{"--config", "/nonexistent/c.yaml"}, false, "/nonexistent/c.yaml"},
		{"unknown flag", "", []string{"--bored", "x"}, true, "bored"},
		{"bad listen", "", []string{"--listen", "7400"}, true, "--listen"},
		{"bad http", "", []string{"--http", "nowhere"}, true, "--http"},
		{"bad peer", "", []string{"--peers", "a:1,b"}, true, "--peers"},
		{"bad id", "", []string{"--id", "desk one"}, true, "--id"},
		{"bad show", "", []string{"--show", "../etc"}, true, "--show"},
		{"bad level", "", []string{"--log-level", "loud"}, true, "--log-level"},
		{"stray argument", "", []string{"extra"}, true, "extra"},
		{"bad remote control", "", []string{"--remote-control", "maybe"}, true, "--remote-control"},
		{"bad remote control in file", "remote-control: yes\n", nil, true, "--remote-control"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if tc.file != "" {
				args = append([]string{"--config", writeConfig(t, tc.file)}, args...)
			}
			_, err := ParseArgs(args, io.Discard)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not name %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
			if errors.Is(err, ErrUsage) != tc.usage {
				t.Errorf("usage error = %v, want %v (%v)", errors.Is(err, ErrUsage), tc.usage, err)
			}
		})
	}
}
