package hil

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Status is the part of consoled's /status.json (the Contract's status
// keys) that the steps read.
type Status struct {
	Console    string            `json:"console"`
	Role       string            `json:"role"`
	Show       string            `json:"show"`
	Seq        uint64            `json:"seq"`
	Link       string            `json:"link"`
	LEDs       map[string]string `json:"leds"`
	Board      string            `json:"board"`
	NetworkKey string            `json:"network_key"`
	Active     string            `json:"active"` // the active a backup follows
	Syncing    bool              `json:"syncing"`
	Fence      string            `json:"fence"`
	Resume     *struct {
		Show    string `json:"show"`
		Outcome string `json:"outcome"`
		Detail  string `json:"detail"`
	} `json:"resume"`
	Peers []struct {
		Console   string `json:"console"`
		Role      string `json:"role"`
		Seq       uint64 `json:"seq"`
		Connected bool   `json:"connected"`
	} `json:"peers"`
}

// String is the status in brief, for messages.
func (s Status) String() string {
	out := fmt.Sprintf("role %s, show %q, seq %d, link %s, leds %v, connected to %v", s.Role, s.Show, s.Seq, s.Link, s.LEDs, s.Connected())
	if s.Active != "" {
		out += ", follows " + s.Active
	}
	if s.Fence != "" {
		out += ", fence: " + s.Fence
	}
	if s.Resume != nil {
		out += fmt.Sprintf(", resume: %s %s", s.Resume.Outcome, s.Resume.Detail)
	}
	return out
}

// Connected lists the peers the console is connected to.
func (s Status) Connected() []string {
	var out []string
	for _, p := range s.Peers {
		if p.Connected {
			out = append(out, p.Console)
		}
	}
	return out
}

// An emulated CPU on a loaded machine may take seconds to answer.
var statusClient = &http.Client{Timeout: 5 * time.Second}

// Status reads the console's status page over the management NIC.
func (v *VM) Status(ctx context.Context) (Status, error) {
	var st Status
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+v.Addr(GuestStatusPort)+"/status.json", nil)
	if err != nil {
		return st, err
	}
	resp, err := statusClient.Do(req)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("%s: status.json: %s", v.Name, resp.Status)
	}
	err = json.NewDecoder(resp.Body).Decode(&st)
	return st, err
}

// WaitStatus reads the status every interval until cond holds, and returns
// the first status that satisfies it and when it was read. Each read is a
// request the guest serves on its one emulated CPU: reading faster than a
// few ms apart slows the very console being measured.
func (v *VM) WaitStatus(ctx context.Context, every time.Duration, cond func(Status) bool) (Status, time.Time, error) {
	var last error
	for {
		st, err := v.Status(ctx)
		now := time.Now()
		if err == nil && cond(st) {
			return st, now, nil
		}
		if err != nil {
			last = err
		} else {
			last = fmt.Errorf("last status: %s", st)
		}
		if ok, why := v.Running(); !ok {
			return st, now, fmt.Errorf("%s: %v", v.Name, why)
		}
		select {
		case <-ctx.Done():
			return st, now, fmt.Errorf("%s: %w (%v)", v.Name, ctx.Err(), last)
		case <-time.After(every):
		}
	}
}

// Logs returns what consoled wrote to stderr, as far as gokrazy's ring
// buffer keeps it (gokrazy's own pages on port 80, with the password
// monogok stored for the build). For failure reports; "" if unreachable.
func (v *VM) Logs(ctx context.Context) string {
	pw := gokrazyPassword()
	if pw == "" {
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	u := "http://" + v.Addr(GuestGokrazyPort) + "/log?stream=stderr&path=" + url.QueryEscape("/user/waitnic")
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return ""
	}
	req.SetBasicAuth("gokrazy", pw)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	// The log is a stream that stays open; read what comes until the timeout.
	var b strings.Builder
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		b.WriteString(sc.Text())
		b.WriteByte('\n')
	}
	return b.String()
}

// gokrazyPassword is the password monogok built into the image: it keeps
// it in the user's gokrazy config folder.
func gokrazyPassword() string {
	dir, err := os.UserConfigDir()
	if err != nil {
		return ""
	}
	for _, p := range []string{filepath.Join(dir, "gokrazy", "hosts", "console", "http-password.txt"), filepath.Join(dir, "gokrazy", "http-password.txt")} {
		if b, err := os.ReadFile(p); err == nil {
			return strings.TrimSpace(string(b))
		}
	}
	return ""
}
