package replication

import (
	"sync"
	"time"
)

// CopyProgress is how far the full copy arriving on this console has come.
type CopyProgress struct {
	From    string    // the console sending it
	Bytes   int64     // received so far
	Total   int64     // what the sender said it would send; about the size on disk
	Started time.Time // when it began
}

// copyProgress holds the copy being received, for Status. The receiver
// (receiveSnapshot) is its only writer; its lock is held for no I/O and
// taken after none.
type copyProgress struct {
	mu  sync.Mutex
	cur *CopyProgress // nil when no copy arrives
}

func (c *copyProgress) begin(from string, total int64, now time.Time) {
	c.mu.Lock()
	c.cur = &CopyProgress{From: from, Total: total, Started: now}
	c.mu.Unlock()
}

func (c *copyProgress) add(n int64) {
	c.mu.Lock()
	if c.cur != nil {
		c.cur.Bytes += n
	}
	c.mu.Unlock()
}

func (c *copyProgress) end() {
	c.mu.Lock()
	c.cur = nil
	c.mu.Unlock()
}

// get returns a copy of the progress, or nil.
func (c *copyProgress) get() *CopyProgress {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur == nil {
		return nil
	}
	p := *c.cur
	return &p
}
