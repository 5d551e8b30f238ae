package store

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestSession(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{})
	if sess, err := s.LoggedOn(); err != nil || sess.Show != "" {
		t.Fatalf("a new store is logged on to %q (%v)", sess.Show, err)
	}
	since := time.Date(2026, 12, 2, 20, 0, 0, 0, time.UTC)
	if err := s.SetLoggedOn(Session{Show: "demo", Since: since}); err != nil {
		t.Fatal(err)
	}
	// A restart reads it back.
	s2 := openStore(t, dir, Options{})
	if sess, err := s2.LoggedOn(); err != nil || sess.Show != "demo" || !sess.Since.Equal(since) {
		t.Fatalf("after a restart: %+v %v", sess, err)
	}
	if err := s.SetLoggedOn(Session{Show: "../etc"}); err == nil {
		t.Fatal("a bad show name was recorded")
	}
	if err := s.SetLoggedOn(Session{}); err != nil {
		t.Fatal(err)
	}
	if sess, _ := s.LoggedOn(); sess.Show != "" {
		t.Fatalf("cleared, yet logged on to %q", sess.Show)
	}
	// A damaged record is an error naming the file, not a show to launch.
	os.WriteFile(filepath.Join(dir, sessionFile), []byte(`{"show": "../x"}`), 0o640)
	if _, err := s.LoggedOn(); err == nil {
		t.Fatal("a damaged record was taken")
	}
}
