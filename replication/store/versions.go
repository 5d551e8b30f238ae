package store

// Object versions: every object records the seq of the edit that last wrote
// it, and a deleted object stays as a tombstone with the seq of its delete.
// Two copies that split at seq C can then tell, from their objects alone,
// what each side changed since C: whatever carries a seq above C. That is
// what a merge needs, however long the split lasted and however little of
// the edit log is left (the log keeps only the newest Options.LogRetain
// edits).
//
// An object's record under "o/"+key is
//
//	kind byte (objValue or objDeleted) ‖ uvarint seq ‖ value (objValue only)
//
// Reads (Get, Dump, Len, the digest) see values only; tombstones are kept
// for good, since any later split may reach back past them.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/cockroachdb/pebble/v2"
)

const (
	objValue   = 1
	objDeleted = 2

	// formatVersion is the layout of a show's keys. Version 2 added the
	// object records above; a copy without keyFormat is version 1 (bare
	// values), converted when it is opened (upgradeObjects).
	formatVersion = 2
)

var keyFormat = []byte("m/format")

// Version is one object's state in a copy, deleted or not.
type Version struct {
	Key     string
	Seq     uint64 // the edit that last set or deleted it
	Deleted bool
	Value   []byte // nil when Deleted
}

// Op is the change that brings another copy's object to this version.
func (v Version) Op() Op { return Op{Key: v.Key, Value: v.Value, Delete: v.Deleted} }

// objRecordLen is the length of an object record for seq and a value of n
// bytes (deleted: n is ignored).
func objRecordLen(deleted bool, seq uint64, n int) int {
	l := 1 + uvarintLen64(seq)
	if !deleted {
		l += n
	}
	return l
}

func uvarintLen64(n uint64) int {
	l := 1
	for ; n >= 0x80; n >>= 7 {
		l++
	}
	return l
}

// putObjRecord writes an object record into dst, which is objRecordLen long.
func putObjRecord(dst []byte, deleted bool, seq uint64, value []byte) {
	if deleted {
		dst[0] = objDeleted
	} else {
		dst[0] = objValue
	}
	n := 1 + binary.PutUvarint(dst[1:], seq)
	if !deleted {
		copy(dst[n:], value)
	}
}

func appendObjRecord(dst []byte, deleted bool, seq uint64, value []byte) []byte {
	kind := byte(objValue)
	if deleted {
		kind = objDeleted
	}
	dst = binary.AppendUvarint(append(dst, kind), seq)
	if deleted {
		return dst
	}
	return append(dst, value...)
}

// decodeObjRecord splits a record; value aliases rec.
func decodeObjRecord(rec []byte) (deleted bool, seq uint64, value []byte, err error) {
	if len(rec) < 2 || (rec[0] != objValue && rec[0] != objDeleted) {
		return false, 0, nil, errors.New("malformed object record")
	}
	seq, n := binary.Uvarint(rec[1:])
	if n <= 0 {
		return false, 0, nil, errors.New("malformed object record seq")
	}
	if rec[0] == objDeleted {
		if len(rec) != 1+n {
			return false, 0, nil, errors.New("malformed object tombstone")
		}
		return true, seq, nil, nil
	}
	return false, seq, rec[1+n:], nil
}

// Version returns key's state in this copy; found is false for an object
// never written (or written only before a conversion from format 1 and
// then deleted).
func (sh *Show) Version(key string) (v Version, found bool, err error) {
	if err := sh.enter(); err != nil {
		return v, false, err
	}
	defer sh.leave()
	return readVersion(sh.db, key)
}

func readVersion(r pebble.Reader, key string) (Version, bool, error) {
	rec, closer, err := r.Get(objKey(key))
	if errors.Is(err, pebble.ErrNotFound) {
		return Version{Key: key}, false, nil
	}
	if err != nil {
		return Version{}, false, fmt.Errorf("get %q: %w", key, err)
	}
	defer closer.Close()
	deleted, seq, value, err := decodeObjRecord(rec)
	if err != nil {
		return Version{}, false, fmt.Errorf("object %q: %w", key, err)
	}
	v := Version{Key: key, Seq: seq, Deleted: deleted}
	if !deleted {
		v.Value = bytes.Clone(value)
		if v.Value == nil {
			v.Value = []byte{}
		}
	}
	return v, true, nil
}

// ChangesSince calls fn, in key order, with every object this copy set or
// deleted after seq: what it changed since a point it shared with another
// copy. After 0 it is every object ever written, tombstones included. fn
// may keep the Version.
func (sh *Show) ChangesSince(after uint64, fn func(Version) error) error {
	if err := sh.enter(); err != nil {
		return err
	}
	defer sh.leave()
	snap := sh.db.NewSnapshot()
	defer snap.Close()
	return scanVersions(snap, func(v Version) error {
		if v.Seq <= after {
			return nil
		}
		v.Value = bytes.Clone(v.Value)
		return fn(v)
	})
}

// scanVersions calls fn with every object record, tombstones included; the
// Version's Value is valid only during the call.
func scanVersions(r pebble.Reader, fn func(Version) error) error {
	return scanRecords(r, func(key []byte, deleted bool, seq uint64, value []byte) error {
		return fn(Version{Key: string(key), Seq: seq, Deleted: deleted, Value: value})
	})
}

// MergeResult is what MergeIn did with another copy's changes.
type MergeResult struct {
	Edits     []Edit   // the changes taken, as new edits of this copy
	Conflicts []string // keys this copy also changed since the common point, differently: this copy's version stays
}

// MergeIn takes changes another copy made after seq common (the last seq
// the two copies share) as new edits of the current epoch, except where
// this copy changed the same object since common too: there this copy's
// version stays, and the key is reported as a conflict unless both sides
// left the object the same. A change that would leave an object as it is
// here is skipped. The check and the write are one step under the write
// lock, so an edit committed here meanwhile is never overwritten.
//
// epoch is as for AppendIn: the copy's current epoch, the merging console's.
func (sh *Show) MergeIn(epoch string, theirs []Version, common uint64) (MergeResult, error) {
	var res MergeResult
	ops := make([]Op, 0, len(theirs))
	for _, v := range theirs {
		ops = append(ops, v.Op())
	}
	if len(ops) == 0 {
		return res, nil
	}
	edits, err := sh.commit(ops, func(lin *Lineage, r pebble.Reader) ([]Edit, error) {
		if len(lin.Epochs) == 0 {
			return nil, fmt.Errorf("store: show %s: no epoch to stamp merged edits with (StartEpoch first)", sh.name)
		}
		if cur := lin.Epochs[len(lin.Epochs)-1].ID; epoch != "" && epoch != cur {
			return nil, fmt.Errorf("store: show %s: %w (%s, not %s)", sh.name, ErrEpochMoved, cur, epoch)
		}
		epoch := lin.Epochs[len(lin.Epochs)-1].ID
		var edits []Edit
		for _, op := range ops {
			mine, found, err := readVersion(r, op.Key)
			if err != nil {
				return nil, err
			}
			same := (op.Delete && (!found || mine.Deleted)) ||
				(!op.Delete && found && !mine.Deleted && bytes.Equal(op.Value, mine.Value))
			switch {
			case same:
			case found && mine.Seq > common:
				res.Conflicts = append(res.Conflicts, op.Key)
			default:
				if op.Delete {
					op.Value = nil
				}
				edits = append(edits, Edit{Seq: lin.Seq + 1 + uint64(len(edits)), Epoch: epoch, Op: op})
			}
		}
		return edits, nil
	}, nil)
	if err != nil {
		return MergeResult{}, err
	}
	res.Edits = edits
	return res, nil
}

// Unmatched counts the objects the archive changed after seq since that
// this copy does not hold as the archive does, and returns up to limit of
// their keys: what of an archived copy the live show lacks.
func (sh *Show) Unmatched(archive string, since uint64, limit int) (n int, keys []string, err error) {
	if err := sh.enter(); err != nil {
		return 0, nil, err
	}
	defer sh.leave()
	dir := filepath.Join(sh.st.dir, "archives", archive)
	if _, err := os.Stat(dir); err != nil {
		return 0, nil, fmt.Errorf("store: archive %s: %w", archive, err)
	}
	o := sh.st.pebbleOptions(sh.name, true)
	o.ReadOnly = true
	sh.st.archiveMu.Lock()
	defer sh.st.archiveMu.Unlock()
	db, err := pebble.Open(dir, o)
	if err != nil {
		return 0, nil, fmt.Errorf("store: archive %s: %w", archive, err)
	}
	defer db.Close()
	snap := sh.db.NewSnapshot()
	defer snap.Close()
	err = scanVersions(db, func(old Version) error {
		if old.Seq <= since {
			return nil
		}
		cur, found, err := readVersion(snap, old.Key)
		if err != nil {
			return err
		}
		held := (old.Deleted && (!found || cur.Deleted)) ||
			(!old.Deleted && found && !cur.Deleted && bytes.Equal(old.Value, cur.Value))
		if !held {
			n++
			if len(keys) < limit {
				keys = append(keys, old.Key)
			}
		}
		return nil
	})
	if err != nil {
		return 0, nil, fmt.Errorf("store: compare archive %s: %w", archive, err)
	}
	return n, keys, nil
}

// checkFormat reads a copy's layout version and converts a format-1 copy
// (bare values) in place. Converted objects are stamped with the copy's
// seq: when they were last written is not known, so a later merge treats
// them as changed since any point this copy shares with another, which
// keeps both sides' versions (the other side's as a conflict) rather than
// losing one.
func checkFormat(db *pebble.DB, lin Lineage) error {
	raw, err := getCopy(db, keyFormat)
	if err != nil {
		return err
	}
	if raw != nil {
		if len(raw) != 1 || raw[0] != formatVersion {
			return fmt.Errorf("unknown layout version %v (this consoled knows %d)", raw, formatVersion)
		}
		return nil
	}
	return upgradeObjects(db, lin.Seq)
}

// checkFormatReadOnly refuses a format-1 copy, which only a writable open
// converts (an archive kept before object versions: restore it first).
func checkFormatReadOnly(db *pebble.DB) error {
	if err := requireFormat(db); err != nil {
		return fmt.Errorf("%w; restore it to read it", err)
	}
	return nil
}

// requireFormat refuses a copy not in this layout: a copy received from a
// peer must not need converting (the handshake's protocol version pins it).
func requireFormat(db *pebble.DB) error {
	raw, err := getCopy(db, keyFormat)
	if err != nil {
		return err
	}
	if len(raw) != 1 || raw[0] != formatVersion {
		return fmt.Errorf("layout version %v, want %d", raw, formatVersion)
	}
	return nil
}

// upgradeObjects converts every object in one batch: a crash part way
// through a conversion in several would leave records that cannot be told
// from bare values.
func upgradeObjects(db *pebble.DB, seq uint64) error {
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: objLower, UpperBound: objUpper})
	if err != nil {
		return err
	}
	b := db.NewBatch()
	defer b.Close()
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			it.Close()
			return err
		}
		b.Set(slices.Clone(it.Key()), appendObjRecord(nil, false, seq, v), nil)
	}
	if err := it.Close(); err != nil {
		return err
	}
	b.Set(keyFormat, []byte{formatVersion}, nil)
	return b.Commit(pebble.Sync)
}
