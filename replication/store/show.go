package store

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/cockroachdb/pebble/v2"
)

// Keys inside a show's Pebble DB. Objects sort by their own key under "o/",
// so iterating the prefix is the byte-wise key order the digest needs.
var (
	keyLineage = []byte("m/lineage") // ShowID and epochs (lineage.go)
	keySeq     = []byte("m/seq")     // last applied seq, 8 bytes big-endian
	objLower   = []byte("o/")
	objUpper   = []byte("o0") // '0' follows '/'
)

func objKey(key string) []byte { return append([]byte("o/"), key...) }

type Op struct {
	Key    string
	Value  []byte
	Delete bool
}

// Edit is a change as recorded in the edit log. Epoch is the epoch current
// when it was ordered.
type Edit struct {
	Seq   uint64
	Epoch string
	Op
}

// Show is one open show. It is safe for concurrent use.
type Show struct {
	st   *Store
	name string
	db   *pebble.DB
	refs int // guarded by st.mu

	placeholder bool // in memory, refuses writes (placeholder.go)

	// wmu orders writes: seqs are assigned and batches applied under it, so
	// seq order is commit order. Fsyncs are awaited outside it, which lets
	// Pebble sync the WAL once for all the callers queued meanwhile.
	wmu    sync.Mutex
	failed error // guarded by wmu: a write whose durability is unknown

	// lmu guards lin; it is never held during I/O, so Lineage is cheap.
	// lin changes only under wmu too, so a writer may read it under wmu alone.
	lmu sync.Mutex
	lin Lineage

	// order is fillBatch's scratch space (guarded by wmu).
	order []*Edit

	// logTrimmed (guarded by wmu): the edit log holds no seq below it, as
	// far as this open knows (0 after open: a trim then starts from the
	// bottom).
	logTrimmed uint64

	// Pebble panics when used after Close, so every call counts itself in
	// ops and Close waits for them.
	life   sync.Mutex
	closed bool
	ops    sync.WaitGroup
}

func openShow(s *Store, name, dir string) (*Show, error) {
	db, err := pebble.Open(dir, s.pebbleOptions(name, true))
	if err != nil {
		return nil, fmt.Errorf("store: open show %s: %w", name, err)
	}
	lin, err := loadLineage(db)
	if err == nil {
		err = checkFormat(db, lin)
	}
	if err != nil {
		db.Close()
		// The record is written in one synced batch: one that does not
		// hold (or cannot be read) is a damaged copy.
		return nil, fmt.Errorf("store: open show %s: %w", name, s.noteDamage(name, "", err))
	}
	return &Show{st: s, name: name, db: db, refs: 1, lin: lin}, nil
}

func (sh *Show) Name() string { return sh.name }

// Lineage returns a copy of the show's lineage. Seq counts every edit applied;
// under group commit it may include edits whose fsync is still in flight (their
// Append has not returned yet).
func (sh *Show) Lineage() Lineage {
	sh.lmu.Lock()
	defer sh.lmu.Unlock()
	l := sh.lin
	l.Epochs = slices.Clone(l.Epochs)
	return l
}

func (sh *Show) enter() error {
	sh.life.Lock()
	defer sh.life.Unlock()
	if sh.closed {
		return fmt.Errorf("store: show %s: %w", sh.name, ErrClosed)
	}
	sh.ops.Add(1)
	return nil
}

func (sh *Show) leave() { sh.ops.Done() }

// Close releases this reference to the show (see Store.OpenShow).
func (sh *Show) Close() error { return sh.st.release(sh) }

func (sh *Show) shutdown() error {
	sh.life.Lock()
	sh.closed = true
	sh.life.Unlock()
	sh.ops.Wait()
	if err := sh.db.Close(); err != nil {
		return fmt.Errorf("store: close show %s: %w", sh.name, err)
	}
	return nil
}

func validateOp(op Op) error {
	if err := ValidateKey(op.Key); err != nil {
		return err
	}
	if op.Delete {
		return nil
	}
	return ValidateValue(op.Value)
}

// Append orders ops as new edits of the current epoch: it assigns seqs
// Seq+1.., writes the objects, the edit log and the seq in one synced batch,
// and returns once they are durable. Any invalid op, a missing epoch or too
// little free disk refuses the whole call and writes nothing. A Delete op's
// Value is ignored.
func (sh *Show) Append(ops []Op) ([]Edit, error) { return sh.AppendThen(ops, nil) }

// AppendThen is Append, calling ordered (when not nil) with the edits once
// they are ordered and readable, while their fsync is still under way: the
// active hands them to its backups then, so that their fsyncs overlap its
// own instead of following it. Nothing is acknowledged before AppendThen
// returns. An edit ordered may still fail to become durable here (the
// error says so); a backup holding it then has an edit that this copy may
// lack after a restart, which the lineage shows as this copy being a
// prefix of the backup's.
func (sh *Show) AppendThen(ops []Op, ordered func([]Edit)) ([]Edit, error) {
	return sh.AppendIn("", ops, ordered)
}

// ErrEpochMoved: a write meant for one epoch found the copy in another (see
// AppendIn).
var ErrEpochMoved = errors.New("the copy's current epoch is not the one the edits were ordered in")

// AppendIn is AppendThen for edits of epoch, which must be the copy's
// current one ("": any): a console orders edits only in an epoch it began,
// and while another console's edits are being taken into its copy (the
// copy then is in that console's epochs) it orders none.
func (sh *Show) AppendIn(epoch string, ops []Op, ordered func([]Edit)) ([]Edit, error) {
	for _, op := range ops {
		if err := validateOp(op); err != nil {
			return nil, err
		}
	}
	if len(ops) == 0 {
		return nil, nil
	}
	edits := make([]Edit, len(ops))
	return sh.commit(ops, func(lin *Lineage, _ pebble.Reader) ([]Edit, error) {
		if len(lin.Epochs) == 0 {
			return nil, fmt.Errorf("store: show %s: no epoch to stamp edits with (StartEpoch first)", sh.name)
		}
		cur := lin.Epochs[len(lin.Epochs)-1].ID
		if epoch != "" && epoch != cur {
			return nil, fmt.Errorf("store: show %s: %w (%s, not %s)", sh.name, ErrEpochMoved, cur, epoch)
		}
		for i, op := range ops {
			if op.Delete {
				op.Value = nil
			}
			edits[i] = Edit{Seq: lin.Seq + 1 + uint64(i), Epoch: cur, Op: op}
		}
		return edits, nil
	}, ordered)
}

// Apply records edits ordered elsewhere (a backup applying the active's
// stream), with the same validation and durability as Append. edits[0].Seq
// must be Seq+1 and the seqs consecutive. Every edit must belong to the
// current (last) epoch of the lineage: the engine calls StartEpoch or
// SetLineage when the stream enters a new epoch, so the lineage never
// mislabels edits (a wrong label could make two different histories look
// alike). A call therefore may not span an epoch change.
func (sh *Show) Apply(edits []Edit) error {
	for _, e := range edits {
		if err := validateOp(e.Op); err != nil {
			return fmt.Errorf("%w (edit %d)", err, e.Seq)
		}
	}
	if len(edits) == 0 {
		return nil
	}
	ops := make([]Op, len(edits))
	for i, e := range edits {
		ops[i] = e.Op
	}
	own := make([]Edit, len(edits))
	_, err := sh.commit(ops, func(lin *Lineage, _ pebble.Reader) ([]Edit, error) {
		for i, e := range edits {
			if want := lin.Seq + 1 + uint64(i); e.Seq != want {
				return nil, fmt.Errorf("store: show %s: edit seq out of order: expected %d, got %d", sh.name, want, e.Seq)
			}
			cur := ""
			if len(lin.Epochs) > 0 {
				cur = lin.Epochs[len(lin.Epochs)-1].ID
			}
			if e.Epoch != cur {
				return nil, fmt.Errorf("store: show %s: edit %d is in epoch %q but the current epoch is %q (StartEpoch or SetLineage first)",
					sh.name, e.Seq, e.Epoch, cur)
			}
			own[i] = e
			if e.Delete {
				own[i].Value = nil
			}
		}
		return own, nil
	}, nil)
	return err
}

// commit writes edits as one synced batch and returns them. stamp runs under
// the write lock with the current lineage and a reader of the show as it is
// at that point, and returns the edits to write (seqs and epochs filled in;
// none is fine) or refuses; ordered, if not nil, gets them once applied,
// before the fsync is waited for. ops bound the disk space reserved.
func (sh *Show) commit(ops []Op, stamp func(lin *Lineage, r pebble.Reader) ([]Edit, error), ordered func([]Edit)) ([]Edit, error) {
	size := uint64(0)
	for _, op := range ops {
		// The bytes land twice (WAL, then sstable) plus the log entry.
		size += 3*uint64(len(op.Key)+len(op.Value)) + 64
	}
	if err := sh.st.disk.reserve(size); err != nil {
		return nil, fmt.Errorf("store: show %s: %w", sh.name, err)
	}
	if err := sh.enter(); err != nil {
		return nil, err
	}
	defer sh.leave()

	if sh.placeholder {
		return nil, fmt.Errorf("store: show %s: %w", sh.name, ErrPlaceholder)
	}
	sh.wmu.Lock()
	if sh.failed != nil {
		sh.wmu.Unlock()
		return nil, fmt.Errorf("store: show %s: refusing writes after a failed write (reopen the show): %w", sh.name, sh.failed)
	}
	edits, err := stamp(&sh.lin, sh.db)
	if err != nil || len(edits) == 0 {
		sh.wmu.Unlock()
		return nil, err
	}
	b := sh.db.NewBatch()
	defer b.Close()
	sh.fillBatch(b, edits)
	last := edits[len(edits)-1].Seq
	b.Set(keySeq, encodeSeq(last), nil)
	trimTo := sh.logTrimPoint(edits[0].Seq, last)
	if trimTo > 0 {
		// In the same batch: no extra write or sync, and atomic with the edits.
		b.DeleteRange(logKey(sh.logTrimmed), logKey(trimTo), nil)
	}
	if err := sh.db.ApplyNoSyncWait(b, pebble.Sync); err != nil {
		sh.wmu.Unlock()
		return nil, fmt.Errorf("store: show %s: write edits %d..%d: %w", sh.name, edits[0].Seq, last, err)
	}
	if trimTo > 0 {
		sh.logTrimmed = trimTo
	}
	sh.lmu.Lock()
	sh.lin.Seq = last
	sh.lmu.Unlock()
	sh.wmu.Unlock()
	if ordered != nil {
		ordered(edits)
	}

	if err := b.SyncWait(); err != nil {
		// The batch is visible but maybe not on disk: the in-memory state can
		// no longer be trusted to match the disk, so stop writing.
		sh.wmu.Lock()
		if sh.failed == nil {
			sh.failed = err
		}
		sh.wmu.Unlock()
		sh.st.log.Error("store: sync failed; show refuses writes until reopened", "show", sh.name, "err", err)
		return nil, fmt.Errorf("store: show %s: sync edits %d..%d: %w", sh.name, edits[0].Seq, last, err)
	}
	return edits, nil
}

// fillBatch adds edits' log entries and object records to b. Called under
// wmu.
//
// The memtable inserts a batch's keys in batch order, and its skiplist
// search starts from where the last insert landed when the next key is
// close by: so the log entries go first (their keys ascend), then the
// objects in key order. The sort is stable, so that of two edits of one
// key in the batch the later one still lands last and wins.
func (sh *Show) fillBatch(b *pebble.Batch, edits []Edit) {
	for i := range edits {
		e := &edits[i]
		n := encodedEditLen(e)
		op := b.SetDeferred(logKeyBytes, n)
		putLogKey(op.Key, e.Seq)
		if enc := encodeEdit(op.Value[:0], *e); len(enc) != n {
			panic(fmt.Sprintf("store: edit %d encodes to %d bytes, not %d", e.Seq, len(enc), n))
		}
		op.Finish()
	}
	order := sh.order[:0]
	for i := range edits {
		order = append(order, &edits[i])
	}
	slices.SortStableFunc(order, func(a, b *Edit) int { return strings.Compare(a.Key, b.Key) })
	for _, e := range order {
		op := b.SetDeferred(len(objLower)+len(e.Key), objRecordLen(e.Delete, e.Seq, len(e.Value)))
		putObjRecord(op.Value, e.Delete, e.Seq, e.Value)
		copy(op.Key[copy(op.Key, objLower):], e.Key)
		op.Finish()
	}
	clear(order)
	if cap(order) <= 4096 {
		sh.order = order[:0]
	}
}

// Get returns the value of key and whether it exists.
func (sh *Show) Get(key string) ([]byte, bool, error) {
	if err := ValidateKey(key); err != nil {
		return nil, false, err
	}
	if err := sh.enter(); err != nil {
		return nil, false, err
	}
	defer sh.leave()
	v, found, err := readVersion(sh.db, key)
	if err != nil {
		return nil, false, fmt.Errorf("store: show %s: %w", sh.name, err)
	}
	if !found || v.Deleted {
		return nil, false, nil
	}
	return v.Value, true, nil
}
