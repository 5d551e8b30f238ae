package store

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"slices"

	"github.com/cockroachdb/pebble/v2"
)

// Object is one key and its value.
type Object struct {
	Key   string
	Value []byte
}

// The digest of a show's content (dump --json's "digest"): SHA-256 over, for
// each object in byte-wise key order,
//
//	uvarint(len(key)) ‖ key ‖ uvarint(len(value)) ‖ value
//
// (uvarint as encoding/binary.AppendUvarint). It depends only on the content,
// not on the history that produced it, so two consoles holding the same
// objects have the same digest. The lengths make the encoding unambiguous. An
// empty show's digest is SHA-256 of the empty input.
type digester struct {
	h   hash.Hash
	buf []byte
}

func newDigester() *digester { return &digester{h: sha256.New()} }

func (d *digester) add(key, value []byte) {
	d.buf = binary.AppendUvarint(d.buf[:0], uint64(len(key)))
	d.h.Write(d.buf)
	d.h.Write(key)
	d.buf = binary.AppendUvarint(d.buf[:0], uint64(len(value)))
	d.h.Write(d.buf)
	d.h.Write(value)
}

func (d *digester) sum() (out [32]byte) {
	d.h.Sum(out[:0])
	return out
}

// Dump calls fn for every object in key order, streamed from a Pebble
// snapshot, and returns the digest of the whole content and the seq the
// snapshot is at. fn may keep the Object. An error from fn stops the dump
// and is returned as is. fn nil only computes the digest.
func (sh *Show) Dump(fn func(Object) error) (digest [32]byte, seq uint64, err error) {
	if err := sh.enter(); err != nil {
		return digest, 0, err
	}
	defer sh.leave()
	snap := sh.db.NewSnapshot()
	defer snap.Close()
	seq, err = readSeq(snap)
	if err != nil {
		return digest, 0, fmt.Errorf("store: show %s: %w", sh.name, err)
	}
	d := newDigester()
	err = scanObjects(snap, func(k, v []byte) error {
		d.add(k, v)
		if fn == nil {
			return nil
		}
		return fn(Object{Key: string(k), Value: slices.Clone(v)})
	})
	if err != nil {
		return digest, 0, err
	}
	return d.sum(), seq, nil
}

// Digest is the digest of the show's current content (see digester).
func (sh *Show) Digest() ([32]byte, error) {
	d, _, err := sh.Dump(nil)
	return d, err
}

// Len counts the objects.
func (sh *Show) Len() (int, error) {
	if err := sh.enter(); err != nil {
		return 0, err
	}
	defer sh.leave()
	n := 0
	err := scanObjects(sh.db, func(k, v []byte) error { n++; return nil })
	return n, err
}

// scanObjects calls fn with each object's key (without the "o/" prefix) and
// value, valid only during the call; deleted objects are skipped.
func scanObjects(r pebble.Reader, fn func(k, v []byte) error) error {
	return scanRecords(r, func(key []byte, deleted bool, _ uint64, value []byte) error {
		if deleted {
			return nil
		}
		return fn(key, value)
	})
}

// scanRecords calls fn with every object record, tombstones included, its
// key without the "o/" prefix; key and value are valid only during the call.
func scanRecords(r pebble.Reader, fn func(key []byte, deleted bool, seq uint64, value []byte) error) error {
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: objLower, UpperBound: objUpper})
	if err != nil {
		return fmt.Errorf("store: read objects: %w", err)
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		rec, err := it.ValueAndErr()
		if err != nil {
			return fmt.Errorf("store: read object %q: %w", it.Key(), err)
		}
		key := it.Key()[len(objLower):]
		deleted, seq, value, err := decodeObjRecord(rec)
		if err != nil {
			return fmt.Errorf("store: object %q: %w", key, err)
		}
		if err := fn(key, deleted, seq, value); err != nil {
			return err
		}
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("store: read objects: %w", err)
	}
	return nil
}
