package firmware

import (
	"time"

	"consoled/api"
	"consoled/replication"
)

// CopySource says how far the full copy arriving on this console has come:
// nil when none arrives. The status, the web panel, the metrics and
// consolectl launch's progress bar all read it.
type CopySource interface {
	Copy(st replication.Status) *api.Copy
}

// engineCopy is the copy progress the engine reports.
type engineCopy struct{}

func (engineCopy) Copy(st replication.Status) *api.Copy { return copyOf(st.Copy) }

func copyOf(c *replication.CopyProgress) *api.Copy {
	if c == nil {
		return nil
	}
	return &api.Copy{From: c.From, Bytes: c.Bytes, Total: c.Total, Started: c.Started.UTC()}
}

// copyRate follows one copy's progress to tell its rate and the time left.
type copyRate struct {
	samples []copySample // the last few seconds
}

type copySample struct {
	at    time.Time
	bytes int64
}

// rateWindow is how far back the rate looks: long enough to smooth the
// bursts of a file being fsynced, short enough to follow a change of pace.
const rateWindow = 3 * time.Second

// add records a sample and returns the rate in bytes per second (0 until
// two samples are apart) and the time left (-1 when not known).
func (r *copyRate) add(now time.Time, c *api.Copy) (rate float64, left time.Duration) {
	if c == nil {
		r.samples = nil
		return 0, -1
	}
	if n := len(r.samples); n > 0 && c.Bytes < r.samples[n-1].bytes {
		r.samples = nil // a new copy
	}
	r.samples = append(r.samples, copySample{now, c.Bytes})
	for len(r.samples) > 2 && now.Sub(r.samples[1].at) >= rateWindow {
		r.samples = r.samples[1:]
	}
	first := r.samples[0]
	if dt := now.Sub(first.at).Seconds(); dt > 0.1 {
		rate = float64(c.Bytes-first.bytes) / dt
	}
	left = -1
	if c.Total > 0 && rate > 0 {
		left = time.Duration(float64(max(c.Total-c.Bytes, 0)) / rate * float64(time.Second))
	}
	return rate, left
}
