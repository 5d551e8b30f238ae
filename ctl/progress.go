package ctl

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"

	"consoled/api"
	"consoled/client"
)

// copyWatch shows a full copy arriving while a launch waits: a progress bar
// on a terminal, a plain line a second otherwise (a log, a script's
// stderr). It reads the console's status on its own connection.
type copyWatch struct {
	c     *client.Client
	w     io.Writer
	tty   bool
	every time.Duration // how often the status is read

	bar      *progressbar.ProgressBar
	lastLine time.Time
}

// watchCopy shows the copy's progress on w until the returned function is
// called.
func watchCopy(c *client.Client, w io.Writer) (stop func()) {
	cw := &copyWatch{c: c, w: w, tty: isTerminal(w), every: 200 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		cw.run(ctx)
	}()
	return func() {
		cancel()
		wg.Wait()
		cw.finish()
	}
}

func (cw *copyWatch) run(ctx context.Context) {
	t := time.NewTicker(cw.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		st, err := cw.c.Status(sctx)
		cancel()
		if err != nil || st.Copy == nil {
			continue
		}
		cw.show(time.Now(), st.Show, st.Copy)
	}
}

func (cw *copyWatch) show(now time.Time, show string, c *api.Copy) {
	if !cw.tty {
		if now.Sub(cw.lastLine) >= time.Second {
			cw.lastLine = now
			fmt.Fprintln(cw.w, copyLine(now, show, c))
		}
		return
	}
	max := c.Total
	if max <= 0 {
		max = -1 // a spinner with the bytes: the total is not known
	}
	if cw.bar == nil {
		// The bytes, rate and time left are in the description, from the
		// console's own start of the copy: the bar's rate would count what
		// arrived before the bar was made.
		cw.bar = progressbar.NewOptions64(max,
			progressbar.OptionSetWriter(cw.w),
			progressbar.OptionSetPredictTime(false),
			progressbar.OptionSetElapsedTime(false),
			progressbar.OptionSetWidth(30),
			progressbar.OptionClearOnFinish(),
		)
	} else if cw.bar.GetMax64() != max {
		cw.bar.ChangeMax64(max)
	}
	cw.bar.Describe(copyLine(now, show, c))
	cw.bar.Set64(c.Bytes)
}

func (cw *copyWatch) finish() {
	if cw.bar != nil {
		cw.bar.Finish()
	}
}

// copyLine is the plain line for a copy: bytes, total, rate, time left.
func copyLine(now time.Time, show string, c *api.Copy) string {
	s := fmt.Sprintf("receiving %s from %s: %s", show, c.From, mib(c.Bytes))
	if c.Total > 0 {
		s += fmt.Sprintf(" of %s (%d%%)", mib(c.Total), 100*c.Bytes/c.Total)
	}
	return s + rateText(now, c)
}

// rateText is ", R MiB/s, N s left" since the copy started, as far as known.
func rateText(now time.Time, c *api.Copy) string {
	el := now.Sub(c.Started).Seconds()
	if el < 0.5 || c.Bytes == 0 {
		return ""
	}
	rate := float64(c.Bytes) / el
	s := fmt.Sprintf(", %s/s", mib(int64(rate)))
	if c.Total > c.Bytes {
		s += fmt.Sprintf(", %.0f s left", float64(c.Total-c.Bytes)/rate)
	}
	return s
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
