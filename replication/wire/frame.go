package wire

import (
	"bufio"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// A frame is a 4-byte big-endian length (of what follows), one type byte and
// the payload. MaxFrame bounds the length: an edit batch carries values up to
// 1 MiB each and snapshot chunks are at most 1 MiB, so 4 MiB leaves room
// while bounding what a peer can make us buffer.
const MaxFrame = 4 << 20

// ErrFrame marks a broken frame header (length 0 or over MaxFrame). After it
// the stream is out of step: close the connection.
var ErrFrame = errors.New("wire: bad frame")

const bufSize = 64 << 10

// Conn is a message connection to a peer, normally over TLS.
//
// Writes are buffered: WriteMsg queues a message and Flush sends what is
// queued, so the engine can queue a batch and flush once; Send does both for
// a single message. The buffer also goes out by itself whenever it fills
// (64 KiB). WriteMsg, Flush and Send are safe for concurrent use; a message
// is never interleaved with another. ReadMsg must be called from one
// goroutine at a time.
//
// A peer that stops reading eventually blocks writers (holding the write
// lock); set a write deadline to bound that.
type Conn struct {
	nc net.Conn
	r  *bufio.Reader

	wmu     sync.Mutex
	w       *bufio.Writer
	scratch []byte     // encoding buffer, reused under wmu
	bc      *batchConn // under the TLS conn; nil on a plain one

	writeTimeout time.Duration // bounds each write; 0: none (see SetWriteTimeout)
}

// DefaultWriteTimeout bounds each write on the Conns that Dial, Client and
// Server return: a peer that stops reading (its socket buffers full) fails
// the writer after this long instead of holding it, and the write lock,
// for good. Over TLS a write that timed out leaves the connection unusable:
// close it.
const DefaultWriteTimeout = 10 * time.Second

// SetWriteTimeout bounds every later write (WriteMsg, Flush, Send,
// WriteChunk) to d from when it takes the write lock; 0 removes the bound.
// Call it before the Conn is shared.
func (c *Conn) SetWriteTimeout(d time.Duration) { c.writeTimeout = d }

// NewConn wraps nc. Dial, Client and Server return Conns over TLS; NewConn
// on a plain connection is for tests.
func NewConn(nc net.Conn) *Conn {
	return &Conn{
		nc: nc,
		r:  bufio.NewReaderSize(nc, bufSize),
		w:  bufio.NewWriterSize(nc, bufSize),
	}
}

// WriteMsg queues m. It fails, queueing nothing, when m does not encode or
// its frame would be over MaxFrame.
func (c *Conn) WriteMsg(m Msg) error {
	c.lockW()
	return c.unlockW(c.writeLocked(m))
}

// lockW takes the write lock. Whatever reaches the TLS conn under it is
// collected below it and sent by unlockW, in a few large writes.
func (c *Conn) lockW() {
	c.wmu.Lock()
	if c.writeTimeout > 0 {
		c.nc.SetWriteDeadline(time.Now().Add(c.writeTimeout))
	}
	if c.bc != nil {
		c.bc.cork()
	}
}

// unlockW sends what the TLS conn wrote under the lock, releases it and
// returns err, or the error of that send.
func (c *Conn) unlockW(err error) error {
	if c.bc != nil {
		if uerr := c.bc.uncork(); uerr != nil && err == nil {
			err = c.netErr("sending", uerr)
		}
	}
	c.wmu.Unlock()
	return err
}

func (c *Conn) writeLocked(m Msg) error {
	b, err := AppendMsg(append(c.scratch[:0], 0, 0, 0, 0), m)
	if err != nil {
		return err
	}
	// Keep a large scratch buffer (a snapshot chunk) only while it is in
	// regular use: drop anything over a frame's worth.
	if cap(b) <= MaxFrame+4 {
		c.scratch = b
	}
	n := len(b) - 4
	if n > MaxFrame {
		return fmt.Errorf("wire: %s message is %d bytes, over the %d-byte frame limit; send it in smaller batches", m.Type(), n, MaxFrame)
	}
	binary.BigEndian.PutUint32(b, uint32(n))
	if _, err := c.w.Write(b); err != nil {
		return c.netErr("sending "+m.Type().String(), err)
	}
	return nil
}

// Flush sends every queued message.
func (c *Conn) Flush() error {
	c.lockW()
	var err error
	if ferr := c.w.Flush(); ferr != nil {
		err = c.netErr("sending", ferr)
	}
	return c.unlockW(err)
}

// Send queues m and flushes.
func (c *Conn) Send(m Msg) error {
	c.lockW()
	err := c.writeLocked(m)
	if err == nil {
		if ferr := c.w.Flush(); ferr != nil {
			err = c.netErr("sending "+m.Type().String(), ferr)
		}
	}
	return c.unlockW(err)
}

// WriteChunk queues a SnapChunk carrying data. The frame is the one
// WriteMsg(&SnapChunk{Data: data}) queues, without first copying data into
// an encoding buffer: a full sync moves the whole show through here.
func (c *Conn) WriteChunk(data []byte) error {
	if len(data) > MaxChunk {
		return fmt.Errorf("wire: SnapChunk: Data is %d bytes, the limit is %d", len(data), MaxChunk)
	}
	var hdr [4 + 1 + binary.MaxVarintLen64]byte
	h := append(hdr[:4], byte(TypeSnapChunk))
	h = binary.AppendUvarint(h, uint64(len(data)))
	binary.BigEndian.PutUint32(h, uint32(len(h)-4+len(data)))
	c.lockW()
	// bufio copies what fits into its buffer and passes the rest of a large
	// write straight through.
	_, err := c.w.Write(h)
	if err == nil {
		_, err = c.w.Write(data)
	}
	if err != nil {
		err = c.netErr("sending SnapChunk", err)
	}
	return c.unlockW(err)
}

// ReadMsg reads and decodes the next message. The returned message owns its
// memory (each frame gets a fresh buffer, or for a large SnapChunk a pooled
// one that ReleaseChunk may hand back), so it may be kept. A decode error
// (wrapping ErrMalformed) leaves the stream at the next frame; a framing or
// network error does not, and the connection should be closed.
func (c *Conn) ReadMsg() (Msg, error) {
	n, err := c.readHeader()
	if err != nil {
		return nil, err
	}
	if m, ok, err := c.readChunk(n); ok {
		return m, err
	}
	b, err := c.readBody(n)
	if err != nil {
		return nil, err
	}
	return Decode(b)
}

// readHeader reads a frame's length and checks it.
func (c *Conn) readHeader() (uint32, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(c.r, hdr[:]); err != nil {
		return 0, c.netErr("receiving", err)
	}
	n := binary.BigEndian.Uint32(hdr[:])
	// Check the claimed length before allocating anything for it.
	if n == 0 {
		return 0, fmt.Errorf("%w: zero length", ErrFrame)
	}
	if n > MaxFrame {
		return 0, fmt.Errorf("%w: length %d over the %d-byte limit", ErrFrame, n, MaxFrame)
	}
	return n, nil
}

// readFrame returns the next frame's type byte and payload.
func (c *Conn) readFrame() ([]byte, error) {
	n, err := c.readHeader()
	if err != nil {
		return nil, err
	}
	return c.readBody(n)
}

// readBody reads a frame's n bytes after its header into a fresh buffer.
func (c *Conn) readBody(n uint32) ([]byte, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(c.r, b); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, c.netErr("receiving", err)
	}
	return b, nil
}

// Snapshot chunks of at least chunkPoolMin bytes are read into pooled
// buffers: a full sync would otherwise allocate (and zero, and collect) a
// fresh MiB per frame.
const chunkPoolMin = 64 << 10

var chunkPool = sync.Pool{New: func() any { return new(chunkBuf) }}

type chunkBuf [MaxChunk]byte

// readChunk reads a frame of n bytes that is a well-formed large SnapChunk
// straight into a pooled buffer. ok is false, and nothing is consumed, for
// any other frame: the general path reads it (and reports what is wrong
// with it).
func (c *Conn) readChunk(n uint32) (m Msg, ok bool, err error) {
	if n < chunkPoolMin {
		return nil, false, nil
	}
	p, _ := c.r.Peek(min(int(n), 1+binary.MaxVarintLen64))
	if len(p) < 2 || MsgType(p[0]) != TypeSnapChunk {
		return nil, false, nil
	}
	size, k := binary.Uvarint(p[1:])
	if k <= 0 || k != uvarintLen(size) || size > MaxChunk || uint64(n) != 1+uint64(k)+size {
		return nil, false, nil
	}
	c.r.Discard(1 + k)
	buf := chunkPool.Get().(*chunkBuf)
	data := buf[:size]
	if _, err := io.ReadFull(c.r, data); err != nil {
		chunkPool.Put(buf)
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, true, c.netErr("receiving", err)
	}
	return &SnapChunk{Data: data}, true, nil
}

// ReleaseChunk hands the buffer of a SnapChunk that ReadMsg returned back
// for reuse by a later one; neither m nor its Data may be used afterwards.
// Releasing is optional: an unreleased buffer is garbage collected as usual.
func ReleaseChunk(m *SnapChunk) {
	if cap(m.Data) == MaxChunk {
		chunkPool.Put((*chunkBuf)(m.Data[:MaxChunk]))
	}
	m.Data = nil
}

// netErr wraps a transport error with the peer's address, and marks errors
// that look like an authentication failure: in TLS 1.3 a server's refusal of
// the client's certificate reaches the client only on its first read.
func (c *Conn) netErr(what string, err error) error {
	return tlsError(fmt.Sprintf("%s (peer %s)", what, c.nc.RemoteAddr()), err)
}

// SetReadDeadline sets the deadline for ReadMsg.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.nc.SetReadDeadline(t) }

// SetWriteDeadline sets the deadline for writes (WriteMsg, Flush, Send).
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.nc.SetWriteDeadline(t) }

// SetDeadline sets both deadlines.
func (c *Conn) SetDeadline(t time.Time) error { return c.nc.SetDeadline(t) }

// Close closes the connection at once. It does not flush, and over TLS it
// sends no close_notify: that waits behind a write blocked on a peer that
// stopped reading, and a close is what unblocks such a write.
func (c *Conn) Close() error {
	if tc, ok := c.nc.(*tls.Conn); ok {
		return tc.NetConn().Close()
	}
	return c.nc.Close()
}

// RemoteAddr returns the peer's network address.
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// NetConn returns the underlying connection.
func (c *Conn) NetConn() net.Conn { return c.nc }

// PeerID returns the verified peer's console ID from its TLS certificate, or
// "" when the connection is not TLS.
func (c *Conn) PeerID() string {
	if tc, ok := c.nc.(*tls.Conn); ok {
		return PeerID(tc.ConnectionState())
	}
	return ""
}
