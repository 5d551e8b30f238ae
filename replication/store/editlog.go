package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

var ErrLogTruncated = errors.New("edit log truncated")

// The edit log lives under "l/" + 8-byte big-endian seq, so it iterates in
// seq order. An entry is:
//
//	version byte (1) ‖ flags byte (bit 0: delete) ‖
//	uvarint len(epoch) ‖ epoch ‖ uvarint len(key) ‖ key ‖ uvarint len(value) ‖ value
var (
	logLower = []byte("l/")
	logUpper = []byte("l0")
)

const (
	logVersion  = 1
	flagDelete  = 1
	logKeyBytes = 2 + 8
)

func logKey(seq uint64) []byte { return binary.BigEndian.AppendUint64([]byte("l/"), seq) }

// putLogKey writes logKey(seq) into k, which is logKeyBytes long.
func putLogKey(k []byte, seq uint64) {
	k[0], k[1] = 'l', '/'
	binary.BigEndian.PutUint64(k[2:], seq)
}

func logKeySeq(k []byte) (uint64, error) {
	if len(k) != logKeyBytes {
		return 0, fmt.Errorf("bad edit log key %q", k)
	}
	return binary.BigEndian.Uint64(k[2:]), nil
}

func encodeEdit(dst []byte, e Edit) []byte {
	flags := byte(0)
	if e.Delete {
		flags |= flagDelete
	}
	dst = append(dst, logVersion, flags)
	dst = binary.AppendUvarint(dst, uint64(len(e.Epoch)))
	dst = append(dst, e.Epoch...)
	dst = binary.AppendUvarint(dst, uint64(len(e.Key)))
	dst = append(dst, e.Key...)
	if e.Delete {
		return binary.AppendUvarint(dst, 0)
	}
	dst = binary.AppendUvarint(dst, uint64(len(e.Value)))
	return append(dst, e.Value...)
}

// encodedEditLen is len(encodeEdit(nil, *e)).
func encodedEditLen(e *Edit) int {
	n := 2 + uvarintLen(len(e.Epoch)) + len(e.Epoch) + uvarintLen(len(e.Key)) + len(e.Key)
	if e.Delete {
		return n + 1
	}
	return n + uvarintLen(len(e.Value)) + len(e.Value)
}

func uvarintLen(n int) int {
	l := 1
	for ; n >= 0x80; n >>= 7 {
		l++
	}
	return l
}

func decodeEdit(seq uint64, b []byte) (Edit, error) {
	bad := func(what string) (Edit, error) {
		return Edit{}, fmt.Errorf("edit log entry %d: %s", seq, what)
	}
	if len(b) < 2 {
		return bad("too short")
	}
	if b[0] != logVersion {
		return bad(fmt.Sprintf("unknown version %d", b[0]))
	}
	e := Edit{Seq: seq}
	e.Delete = b[1]&flagDelete != 0
	b = b[2:]
	field := func() ([]byte, bool) {
		n, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < n {
			return nil, false
		}
		f := b[k : k+int(n)]
		b = b[k+int(n):]
		return f, true
	}
	epoch, ok1 := field()
	key, ok2 := field()
	value, ok3 := field()
	if !ok1 || !ok2 || !ok3 || len(b) != 0 {
		return bad("malformed")
	}
	e.Epoch, e.Key = string(epoch), string(key)
	if !e.Delete {
		e.Value = append([]byte{}, value...)
	}
	return e, nil
}

// logBounds returns the first and last seq in the edit log, 0, 0 if empty.
func logBounds(r pebble.Reader) (first, last uint64, err error) {
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: logLower, UpperBound: logUpper})
	if err != nil {
		return 0, 0, err
	}
	defer it.Close()
	if !it.First() {
		return 0, 0, it.Error()
	}
	if first, err = logKeySeq(it.Key()); err != nil {
		return 0, 0, err
	}
	it.Last()
	if last, err = logKeySeq(it.Key()); err != nil {
		return 0, 0, err
	}
	return first, last, it.Error()
}

// The edit log is for incremental catch-up only: a backup missing more than
// a few thousand edits gets a full copy instead. Keeping more than
// Options.LogRetain entries would only make every full copy bigger (each
// entry holds the value again), so commits trim the log as they go, in steps
// of logTrimEvery seqs so that the range deletions stay few.
const logTrimEvery = 1024

// logTrimPoint returns the seq below which the log is to be trimmed by the
// commit of seqs first..last, or 0 for no trim now. Called under wmu.
func (sh *Show) logTrimPoint(first, last uint64) uint64 {
	retain := sh.st.opts.LogRetain
	if last <= retain || (first-1)/logTrimEvery == last/logTrimEvery {
		return 0
	}
	if to := last - retain + 1; to > sh.logTrimmed {
		return to
	}
	return 0
}

// EditsSince streams the logged edits with Seq > after, in order, up to the
// seq the show was at when called. If the log no longer holds after+1 (it
// keeps about Options.LogRetain edits), the error wraps
// ErrLogTruncated: the caller needs a full copy instead. after beyond the
// show's seq is an error. An error from fn stops the stream and is returned
// as is.
func (sh *Show) EditsSince(after uint64, fn func(Edit) error) error {
	if err := sh.enter(); err != nil {
		return err
	}
	defer sh.leave()
	snap := sh.db.NewSnapshot()
	defer snap.Close()
	seq, err := readSeq(snap)
	if err != nil {
		return fmt.Errorf("store: show %s: %w", sh.name, err)
	}
	if after > seq {
		return fmt.Errorf("store: show %s: edits since %d asked, but the show is at seq %d", sh.name, after, seq)
	}
	if after == seq {
		return nil
	}
	it, err := snap.NewIter(&pebble.IterOptions{LowerBound: logKey(after + 1), UpperBound: logUpper})
	if err != nil {
		return fmt.Errorf("store: show %s: read edit log: %w", sh.name, err)
	}
	defer it.Close()
	want := after + 1
	for ok := it.First(); ok; ok = it.Next() {
		s, err := logKeySeq(it.Key())
		if err != nil {
			return fmt.Errorf("store: show %s: %w", sh.name, err)
		}
		if s != want {
			if want == after+1 {
				return fmt.Errorf("store: show %s: edits since %d: %w (the log starts at seq %d)", sh.name, after, ErrLogTruncated, s)
			}
			return fmt.Errorf("store: show %s: edit log has a gap: expected seq %d, found %d", sh.name, want, s)
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return fmt.Errorf("store: show %s: read edit %d: %w", sh.name, s, err)
		}
		e, err := decodeEdit(s, v)
		if err != nil {
			return fmt.Errorf("store: show %s: %w", sh.name, err)
		}
		if err := fn(e); err != nil {
			return err
		}
		if s == seq {
			return nil
		}
		want++
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("store: show %s: read edit log: %w", sh.name, err)
	}
	if want == after+1 {
		return fmt.Errorf("store: show %s: edits since %d: %w (the log is empty)", sh.name, after, ErrLogTruncated)
	}
	return fmt.Errorf("store: show %s: edit log ends at seq %d, short of the show's seq %d", sh.name, want-1, seq)
}

func readSeq(r pebble.Reader) (uint64, error) {
	v, closer, err := r.Get(keySeq)
	if err != nil {
		return 0, fmt.Errorf("read seq: %w", err)
	}
	defer closer.Close()
	if len(v) != 8 {
		return 0, fmt.Errorf("seq record is %d bytes, want 8", len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// Compact is rule 5's clean-up, for the last server out: it trims the edit
// log to the newest Options.LogRetain edits and compacts the Pebble DB so
// the copy left on disk is small and quick to open and to send.
func (sh *Show) Compact() error {
	if sh.placeholder {
		return nil // nothing to compact
	}
	if err := sh.enter(); err != nil {
		return err
	}
	defer sh.leave()
	// Under the write lock like every write (Checkpoint relies on it).
	sh.wmu.Lock()
	seq := sh.lin.Seq
	if retain := sh.st.opts.LogRetain; seq > retain {
		// Keep seqs >= seq-retain+1.
		if err := sh.db.DeleteRange(logKey(0), logKey(seq-retain+1), pebble.Sync); err != nil {
			sh.wmu.Unlock()
			return fmt.Errorf("store: show %s: trim edit log: %w", sh.name, err)
		}
		sh.logTrimmed = max(sh.logTrimmed, seq-retain+1)
	}
	sh.wmu.Unlock()
	// Our keys all sort between "l/" and "p".
	if err := sh.db.Compact(context.Background(), logLower, []byte("p"), true); err != nil {
		return fmt.Errorf("store: show %s: compact: %w", sh.name, err)
	}
	return nil
}
