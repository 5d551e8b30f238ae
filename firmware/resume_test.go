package firmware

import (
	"testing"
	"time"

	"consoled/api"
)

// A resume whose launch waits for the master says so; status shows
// nothing without --resume.
func TestResumeStatus(t *testing.T) {
	var r resumer
	if r.status("") != nil {
		t.Fatal("a resume shown without --resume")
	}
	at := time.Date(2026, 3, 14, 19, 30, 0, 0, time.UTC)
	r.set("demo", api.ResumeLaunching, "", at)
	if got := r.status("desk-1"); got.Outcome != api.ResumeWaiting || got.Show != "demo" || !got.Since.Equal(at) {
		t.Fatalf("launching while the launch waits for the master: %+v", got)
	}
	if got := r.status(""); got.Outcome != api.ResumeLaunching {
		t.Fatalf("launching: %+v", got)
	}
	r.set("demo", api.ResumeJoined, "", at)
	if got := r.status("desk-1"); got.Outcome != api.ResumeJoined {
		t.Fatalf("joined: %+v", got)
	}
}
