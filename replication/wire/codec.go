package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The codec is deliberately small: fixed-width big-endian integers,
// uvarints, and length-prefixed byte strings with a per-field maximum. Every
// value has exactly one encoding (minimal uvarints, bools 0 or 1), so a
// decoded message re-encodes to the same bytes; the fuzz tests rely on that.
//
// Both sides use a sticky error: the first failure is kept and every later
// call is a no-op, so the per-message code reads straight through and checks
// once at the end.

// ErrMalformed marks a payload that does not decode: truncated, a length over
// its limit, trailing bytes, a non-canonical value, or an unknown type.
var ErrMalformed = errors.New("wire: malformed message")

type encoder struct {
	b   []byte
	err error
}

func (e *encoder) fail(format string, args ...any) {
	if e.err == nil {
		e.err = fmt.Errorf("wire: encoding: "+format, args...)
	}
}

func (e *encoder) u8(v uint8)   { e.b = append(e.b, v) }
func (e *encoder) u16(v uint16) { e.b = binary.BigEndian.AppendUint16(e.b, v) }
func (e *encoder) u32(v uint32) { e.b = binary.BigEndian.AppendUint32(e.b, v) }
func (e *encoder) uvarint(v uint64) {
	e.b = binary.AppendUvarint(e.b, v)
}

func (e *encoder) bool(v bool) {
	if v {
		e.u8(1)
	} else {
		e.u8(0)
	}
}

// count writes a slice length, refusing one over max.
func (e *encoder) count(field string, n, max int) {
	if n > max {
		e.fail("%s has %d entries, the limit is %d", field, n, max)
		return
	}
	e.uvarint(uint64(n))
}

func (e *encoder) bytes(field string, v []byte, max int) {
	if len(v) > max {
		e.fail("%s is %d bytes, the limit is %d", field, len(v), max)
		return
	}
	e.uvarint(uint64(len(v)))
	e.b = append(e.b, v...)
}

func (e *encoder) str(field string, v string, max int) {
	if len(v) > max {
		e.fail("%s is %d bytes, the limit is %d", field, len(v), max)
		return
	}
	e.uvarint(uint64(len(v)))
	e.b = append(e.b, v...)
}

func (e *encoder) fixed(v []byte) { e.b = append(e.b, v...) }

type decoder struct {
	b   []byte // the rest of the payload
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
	}
}

// take returns the next n bytes, or nil and an error when fewer remain.
func (d *decoder) take(field string, n int) []byte {
	if d.err != nil {
		return nil
	}
	if n > len(d.b) {
		d.fail("%s: truncated (need %d bytes, %d left)", field, n, len(d.b))
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) u8(field string) uint8 {
	b := d.take(field, 1)
	if b == nil {
		return 0
	}
	return b[0]
}

func (d *decoder) u16(field string) uint16 {
	b := d.take(field, 2)
	if b == nil {
		return 0
	}
	return binary.BigEndian.Uint16(b)
}

func (d *decoder) u32(field string) uint32 {
	b := d.take(field, 4)
	if b == nil {
		return 0
	}
	return binary.BigEndian.Uint32(b)
}

func (d *decoder) uvarint(field string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	switch {
	case n == 0:
		d.fail("%s: truncated", field)
		return 0
	case n < 0:
		d.fail("%s: varint overflows 64 bits", field)
		return 0
	case n != uvarintLen(v):
		d.fail("%s: varint not minimally encoded", field)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

func (d *decoder) bool(field string) bool {
	switch v := d.u8(field); v {
	case 0:
		return false
	case 1:
		return true
	default:
		d.fail("%s: bool is %d, want 0 or 1", field, v)
		return false
	}
}

// length reads a uvarint length and checks it against max and against what
// is left, before anything is allocated for it.
func (d *decoder) length(field string, max int) int {
	n := d.uvarint(field)
	if d.err != nil {
		return 0
	}
	if n > uint64(max) {
		d.fail("%s: length %d over the limit %d", field, n, max)
		return 0
	}
	if n > uint64(len(d.b)) {
		d.fail("%s: truncated (length %d, %d bytes left)", field, n, len(d.b))
		return 0
	}
	return int(n)
}

// bytes returns a length-prefixed byte string. It aliases the payload (which
// ReadMsg allocates per frame, so the caller may keep it); an empty string
// decodes as nil.
func (d *decoder) bytes(field string, max int) []byte {
	n := d.length(field, max)
	if d.err != nil || n == 0 {
		return nil
	}
	return d.take(field, n)
}

func (d *decoder) str(field string, max int) string {
	n := d.length(field, max)
	if d.err != nil || n == 0 {
		return ""
	}
	return string(d.take(field, n))
}

// count reads a slice length. Each entry takes at least minSize bytes, so a
// count the remaining input cannot hold is refused before the slice is
// allocated: a small hostile payload cannot make us allocate a large slice.
func (d *decoder) count(field string, max, minSize int) int {
	n := d.uvarint(field)
	if d.err != nil {
		return 0
	}
	if n > uint64(max) {
		d.fail("%s: %d entries, the limit is %d", field, n, max)
		return 0
	}
	if n*uint64(minSize) > uint64(len(d.b)) {
		d.fail("%s: truncated (%d entries cannot fit in %d bytes)", field, n, len(d.b))
		return 0
	}
	return int(n)
}

// done checks that the whole payload was consumed.
func (d *decoder) done() error {
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d trailing bytes", len(d.b))
	}
	return d.err
}
