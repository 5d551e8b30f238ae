package firmware

import (
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"consoled/api"
	"consoled/internal/browsertest"
	"consoled/replication"
)

// fakeCopy reports a copy of total bytes arriving at rate bytes a second
// from when it is begun, whatever the engine does: the engine does not
// report a copy's total yet.
type fakeCopy struct {
	mu      sync.Mutex
	started time.Time
	total   int64
	rate    float64
}

func (f *fakeCopy) begin(total int64, rate float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.started, f.total, f.rate = time.Now(), total, rate
}

func (f *fakeCopy) Copy(replication.Status) *api.Copy {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.started.IsZero() {
		return nil
	}
	n := min(f.total, int64(time.Since(f.started).Seconds()*f.rate))
	return &api.Copy{From: "desk-1", Bytes: n, Total: f.total, Started: f.started.UTC()}
}

// The progress bar moves while a copy arrives, with the bytes, total, rate
// and time left in words, and the page reports no error.
func TestWebPanelCopyProgress(t *testing.T) {
	b := browsertest.ForTest(t, 1100, 900)
	fake := &fakeCopy{}
	ts := startTestService(t, Options{Copy: fake}, "--http", "127.0.0.1:0")
	if err := b.Do(20*time.Second, chromedp.Navigate("http://"+ts.svc.HTTPAddr()+"/"), chromedp.WaitVisible("#network tbody tr")); err != nil {
		t.Fatal(err)
	}
	if hidden, _ := browsertest.Eval[bool](b, `document.getElementById("copy").hidden`); !hidden {
		t.Fatal("the progress bar shows while no copy arrives")
	}
	fake.begin(400<<20, 40<<20) // 10 s
	width := `parseFloat(document.getElementById("copy-fill").style.width || "0")`
	if _, err := b.WaitJS(5*time.Second, `!document.getElementById("copy").hidden && `+width+` > 0`); err != nil {
		t.Fatal(err)
	}
	first, _ := browsertest.Eval[float64](b, width)
	if _, err := b.WaitJS(5*time.Second, width+` >= `+ftoa(first+5)); err != nil {
		t.Fatalf("the bar did not move on from %.1f%%: %v", first, err)
	}
	txt, _ := browsertest.Eval[string](b, `document.getElementById("copy-text").textContent`)
	for _, want := range []string{"of 400.0 MiB", "MiB/s", "left", "from desk-1"} {
		if !strings.Contains(txt, want) {
			t.Errorf("progress text %q lacks %q", txt, want)
		}
	}
	b.Check(t)
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'f', 2, 64) }
