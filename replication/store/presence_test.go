package store

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestPresenceRoundTripAndErrors(t *testing.T) {
	s := openStore(t, t.TempDir(), Options{})
	if p, err := s.Presence("demo"); err != nil || p.Outdated() || p.MasterCopy {
		t.Fatalf("never logged on: %+v %v", p, err)
	}
	left := time.Date(2026, 12, 1, 20, 0, 0, 0, time.UTC)
	if err := s.SetPresence("demo", Presence{With: []string{"desk-3", "desk-2"}, Left: left}); err != nil {
		t.Fatal(err)
	}
	p, err := s.Presence("demo")
	if err != nil || !p.Outdated() || strings.Join(p.With, ",") != "desk-2,desk-3" || !p.Left.Equal(left) {
		t.Fatalf("read back %+v %v", p, err)
	}
	if err := s.SetPresence("demo", Presence{Left: left, MasterCopy: true}); err != nil {
		t.Fatal(err)
	}
	if p, _ := s.Presence("demo"); p.Outdated() || !p.MasterCopy {
		t.Fatalf("last out: %+v", p)
	}
	if err := s.SetPresence("../x", Presence{}); err == nil {
		t.Fatal("a show name with a path in it was accepted")
	}
	if err := os.WriteFile(s.presencePath("demo"), []byte("{broken"), 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Presence("demo"); err == nil || !strings.Contains(err.Error(), "presence of demo") {
		t.Fatalf("a broken record read as %v", err)
	}
}
