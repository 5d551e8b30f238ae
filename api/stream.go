package api

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// The edit stream: a connection upgraded for edits only, for clients that
// make many (consolectl set, panels, the bench). POST /v1/edit stays for
// any HTTP client.
//
// The client sends
//
//	POST /v1/edit-stream HTTP/1.1
//	Host: consoled
//	Connection: Upgrade
//	Upgrade: consoled-edits/1
//
// and the console answers "101 Switching Protocols" with the same Upgrade
// header, or an error answer (426 Upgrade Required, naming the protocol it
// speaks in its Upgrade header, when the request asks for another). After
// the 101 both sides send frames: a 4-byte big-endian length of what
// follows (1 to MaxFrame), a type byte and the payload.
//
// Client to console:
//
//	FrameEdit   flags (1 byte: 1 = delete; the other bits 0), key length
//	            (uvarint), key, value (the rest; empty for a delete)
//
// Console to client, one answer per edit, in the order the edits came:
//
//	FrameSeq    the edit is acknowledged, durable at seq (uvarint; nothing after it)
//	FrameError  the edit failed: kind length (uvarint), kind, message (the
//	            rest). Nothing changed, unless the kind is outcome_unknown.
//
// and last, before it closes the connection:
//
//	FrameEnd    why the console ends the stream: kind length, kind, message.
//	            The edits it did not answer before it were not applied.
//
// The console applies a stream's edits in the order they were sent, and
// answers them in that order. A client need not wait for an answer before
// sending the next edit; it keeps a window of unanswered edits of its
// choosing. The console reads at most StreamGroup edits ahead of its
// answers: beyond that the connection's flow control holds the client.
// A client whose stream breaks without a FrameEnd cannot know whether its
// unanswered edits were applied (kind outcome_unknown, exit 4); setting or
// deleting again is safe.
const (
	StreamProtocol = "consoled-edits/1"

	FrameEdit  byte = 0x01
	FrameSeq   byte = 0x02
	FrameError byte = 0x03
	FrameEnd   byte = 0x04

	// MaxFrame bounds a frame's length: an edit of the largest key and
	// value fits with room to spare.
	MaxFrame = MaxValueLen + 64<<10
	// StreamGroup is how many edits the console takes from a stream at
	// once, as one submission.
	StreamGroup = 512

	flagDelete = 1
	maxKind    = 64
)

// ErrStream marks a stream that is out of step or carries a malformed
// frame: the connection is of no further use.
var ErrStream = errors.New("edit stream")

func streamErr(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrStream, fmt.Sprintf(format, a...))
}

// AppendEdit appends the FrameEdit of an edit to b. A delete has no value.
func AppendEdit(b []byte, key, value string, del bool) []byte {
	var flags byte
	if del {
		flags, value = flagDelete, ""
	}
	n := 1 + 1 + uvarintLen(uint64(len(key))) + len(key) + len(value)
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	b = append(b, FrameEdit, flags)
	b = binary.AppendUvarint(b, uint64(len(key)))
	b = append(b, key...)
	return append(b, value...)
}

// AppendSeq appends the FrameSeq answering an edit acknowledged at seq.
func AppendSeq(b []byte, seq uint64) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(1+uvarintLen(seq)))
	b = append(b, FrameSeq)
	return binary.AppendUvarint(b, seq)
}

// AppendError appends a FrameError (typ FrameError) or FrameEnd (typ
// FrameEnd) of kind and msg. A message that would make the frame longer
// than MaxFrame is cut.
func AppendError(b []byte, typ byte, kind Kind, msg string) []byte {
	if len(kind) > maxKind {
		kind = KindInternal
	}
	if max := MaxFrame - 1 - 1 - len(kind); len(msg) > max {
		msg = msg[:max]
	}
	n := 1 + uvarintLen(uint64(len(kind))) + len(kind) + len(msg)
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	b = append(b, typ)
	b = binary.AppendUvarint(b, uint64(len(kind)))
	b = append(b, kind...)
	return append(b, msg...)
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// DecodeEdit decodes a FrameEdit's payload. key and value alias p.
func DecodeEdit(p []byte) (key, value []byte, del bool, err error) {
	if len(p) < 1 {
		return nil, nil, false, streamErr("edit frame without flags")
	}
	flags := p[0]
	if flags&^flagDelete != 0 {
		return nil, nil, false, streamErr("edit frame with unknown flags %#02x", flags)
	}
	klen, n := binary.Uvarint(p[1:])
	if n <= 0 || klen > uint64(len(p)-1-n) {
		return nil, nil, false, streamErr("edit frame with a key length past its end")
	}
	key = p[1+n : 1+n+int(klen)]
	value = p[1+n+int(klen):]
	del = flags&flagDelete != 0
	if del && len(value) > 0 {
		return nil, nil, false, streamErr("delete frame with a value")
	}
	return key, value, del, nil
}

// DecodeSeq decodes a FrameSeq's payload.
func DecodeSeq(p []byte) (uint64, error) {
	seq, n := binary.Uvarint(p)
	if n <= 0 || n != len(p) {
		return 0, streamErr("malformed seq frame")
	}
	return seq, nil
}

// DecodeError decodes the payload of a FrameError or FrameEnd.
func DecodeError(p []byte) (Kind, string, error) {
	klen, n := binary.Uvarint(p)
	if n <= 0 || klen > maxKind || klen > uint64(len(p)-n) {
		return "", "", streamErr("malformed error frame")
	}
	kind, msg := p[n:n+int(klen)], p[n+int(klen):]
	if !utf8.Valid(kind) || !utf8.Valid(msg) {
		return "", "", streamErr("error frame that is not UTF-8 text")
	}
	return Kind(kind), string(msg), nil
}

// FrameReader reads frames from a buffered connection.
type FrameReader struct {
	r       *bufio.Reader
	pending int    // bytes of the last frame still to discard
	big     []byte // a frame larger than r's buffer
}

// NewFrameReader reads frames from r.
func NewFrameReader(r *bufio.Reader) *FrameReader { return &FrameReader{r: r} }

// Next returns the next frame's type and payload, which stays valid until
// the next call. It returns io.EOF at a clean end between frames, and an
// error wrapping ErrStream for a frame whose length is out of bounds.
func (fr *FrameReader) Next() (typ byte, payload []byte, err error) {
	if fr.pending > 0 {
		fr.r.Discard(fr.pending)
		fr.pending = 0
	}
	fr.big = fr.big[:0]
	hdr, err := fr.r.Peek(4)
	if err != nil {
		if len(hdr) > 0 && err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, err
	}
	n := int(binary.BigEndian.Uint32(hdr))
	if n < 1 || n > MaxFrame {
		return 0, nil, streamErr("frame of %d bytes (want 1 to %d)", n, MaxFrame)
	}
	if 4+n <= fr.r.Size() {
		b, err := fr.r.Peek(4 + n)
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return 0, nil, err
		}
		fr.pending = 4 + n
		return b[4], b[5:], nil
	}
	fr.r.Discard(4)
	if cap(fr.big) < n {
		fr.big = make([]byte, n)
	}
	fr.big = fr.big[:n]
	if _, err := io.ReadFull(fr.r, fr.big); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, err
	}
	b := fr.big
	if cap(fr.big) > 4*fr.r.Size() {
		fr.big = nil // a rare large value: do not keep its buffer
	}
	return b[0], b[1:], nil
}

// Buffered reports whether a whole frame has arrived, so that Next will
// not wait for the connection.
func (fr *FrameReader) Buffered() bool {
	avail := fr.r.Buffered() - fr.pending
	if avail < 4 {
		return false
	}
	b, _ := fr.r.Peek(fr.pending + 4)
	n := int(binary.BigEndian.Uint32(b[fr.pending:]))
	return n < 1 || n > MaxFrame || 4+n <= avail
}
