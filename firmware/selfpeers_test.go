package firmware

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A console's own listen address in --peers, in any of its spellings, is
// skipped; the others' are kept.
func TestOwnAddressInPeers(t *testing.T) {
	local := func() []net.IP {
		return []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1"), net.ParseIP("10.0.0.5")}
	}
	resolve := func(h string) []net.IP {
		switch h {
		case "desk-1.local":
			return []net.IP{net.ParseIP("10.0.0.5")}
		case "desk-2.local":
			return []net.IP{net.ParseIP("10.0.0.6")}
		case "localhost":
			return []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")}
		}
		return lookupIPs(h)
	}
	for _, c := range []struct {
		peer, listen string
		own          bool
	}{
		{"127.0.0.1:7401", "127.0.0.1:7401", true},
		{"127.0.0.1:7402", "127.0.0.1:7401", false},
		{"localhost:7401", "127.0.0.1:7401", true},
		{"10.0.0.5:7400", ":7400", true},
		{"10.0.0.5:7400", "0.0.0.0:7400", true},
		{"10.0.0.5:7400", "[::]:7400", true},
		{"desk-1.local:7400", ":7400", true},
		{"desk-2.local:7400", ":7400", false},
		{"127.0.0.2:7400", ":7400", true},
		{"[::1]:7400", "[::]:7400", true},
		{"10.0.0.6:7400", ":7400", false},
		{"10.0.0.5:7401", ":7400", false},
		{"10.0.0.5:7400", "10.0.0.6:7400", false},
		{"127.0.0.1:0", "127.0.0.1:0", false},
		{"bad", ":7400", false},
	} {
		if got := isOwnAddress(c.peer, c.listen, local, resolve); got != c.own {
			t.Errorf("peer %s listen %s: own %v, want %v", c.peer, c.listen, got, c.own)
		}
	}
}

// A start that fails (here: the status page's port is taken) leaves no
// file it made behind: no network key, no data directory, no store.
func TestFailedStartLeavesNoFiles(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, fresh := range []bool{true, false} {
		root := t.TempDir()
		data := filepath.Join(root, "data")
		if !fresh {
			if err := os.Mkdir(data, 0o755); err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(data, "mine"), []byte("x"), 0o644)
		}
		cfg, err := ParseArgs([]string{"--id", "t1", "--data", data, "--listen", "127.0.0.1:0", "--http", busy.Addr().String(), "--discovery", "off"}, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		_, err = New(cfg, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err == nil || !strings.Contains(err.Error(), "--http") {
			t.Fatalf("start with a busy --http port: %v", err)
		}
		entries, _ := os.ReadDir(data)
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		switch {
		case fresh:
			if _, err := os.Stat(data); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a failed start left its new data directory: %v", names)
			}
		case len(names) != 1 || names[0] != "mine":
			t.Errorf("a failed start left %v in the data directory (want only the file that was there)", names)
		}
	}
}
