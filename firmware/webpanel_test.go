package firmware

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The event stream outlives the status page's write timeout: a change long
// after the stream began still arrives, as its own event.
func TestEventStreamOutlivesWriteTimeout(t *testing.T) {
	const write = 200 * time.Millisecond
	ts := startTestService(t, Options{Timeouts: Timeouts{Write: write}}, "--http", "127.0.0.1:0")
	resp, err := http.Get("http://" + ts.svc.HTTPAddr() + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	events := make(chan map[string]any, 16)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			data, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok {
				continue
			}
			var msg struct {
				View map[string]any `json:"view"`
			}
			if json.Unmarshal([]byte(data), &msg) == nil {
				events <- msg.View
			}
		}
	}()
	next := func(want string) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case v, ok := <-events:
				if !ok {
					t.Fatalf("the stream ended before %q", want)
				}
				if h, _ := v["headline"].(string); strings.Contains(h, want) {
					return
				}
			case <-deadline:
				t.Fatalf("no event with %q", want)
			}
		}
	}
	next("not logged on")
	// Past several write timeouts since the stream began.
	time.Sleep(4 * write)
	if code, body := ts.post("/v1/launch", `{"show":"demo"}`); code != 200 {
		t.Fatalf("launch: %d %s", code, body)
	}
	next("is the active server of show demo")
}
