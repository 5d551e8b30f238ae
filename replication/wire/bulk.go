package wire

import (
	"net"
	"sync"
)

// crypto/tls writes every record (at most 16 KiB of plaintext) to its
// connection with a syscall of its own: a full sync of a 100 MB show is
// some 7,000 writes on the sender, where a plain copy makes a few hundred.
// batchConn sits between tls.Conn and the TCP connection and, while the
// Conn above is in a write (corked), collects the records and sends them
// in writes of up to batchWriteSize when that write is done. Outside a
// write, writes pass straight through, so what tls sends on its own (an
// alert, close_notify, a key update) is never held back.
//
// Reads are left as they are: a large read buffer in front of tls cost a
// copy of every byte and saved no measurable time.
type batchConn struct {
	net.Conn

	mu     sync.Mutex
	corked bool
	buf    []byte // collected records
	err    error  // a failed write: the record stream is broken from here on
}

const batchWriteSize = 256 << 10

func newBatchConn(nc net.Conn) *batchConn { return &batchConn{Conn: nc} }

func (b *batchConn) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return 0, b.err
	}
	if !b.corked {
		if err := b.flushLocked(); err != nil {
			return 0, err
		}
		return b.writeLocked(p)
	}
	if len(b.buf)+len(p) > batchWriteSize {
		if err := b.flushLocked(); err != nil {
			return 0, err
		}
		if len(p) >= batchWriteSize {
			return b.writeLocked(p)
		}
	}
	// The buffer grows only as far as the writes need: a connection that
	// carries heartbeats and edits keeps a small one.
	b.buf = append(b.buf, p...)
	return len(p), nil
}

func (b *batchConn) writeLocked(p []byte) (int, error) {
	n, err := b.Conn.Write(p)
	if err != nil {
		b.err = err
	}
	return n, err
}

func (b *batchConn) flushLocked() error {
	if len(b.buf) == 0 {
		return nil
	}
	_, err := b.writeLocked(b.buf)
	b.buf = b.buf[:0]
	return err
}

// cork starts collecting writes.
func (b *batchConn) cork() {
	b.mu.Lock()
	b.corked = true
	b.mu.Unlock()
}

// uncork sends what was collected and lets writes pass through again.
func (b *batchConn) uncork() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.corked = false
	if b.err != nil {
		return b.err
	}
	return b.flushLocked()
}

func newTLSConn(tc net.Conn, bc *batchConn) *Conn {
	c := NewConn(tc)
	c.bc = bc
	c.writeTimeout = DefaultWriteTimeout
	return c
}
