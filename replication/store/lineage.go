package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/cockroachdb/pebble/v2"
)

// Epoch is a period in which one console was active; it begins at FirstSeq.
type Epoch struct {
	ID       string
	FirstSeq uint64
}

// Lineage identifies a copy's history: which show, which epochs, how far.
type Lineage struct {
	ShowID string  // random, minted when the show is created
	Epochs []Epoch // epoch history, oldest first
	Seq    uint64  // last applied seq (0 = empty)
}

const maxEpochID = 128

// The lineage record (m/lineage) holds ShowID and epochs as JSON: it is small,
// rarely written, and readable with any Pebble tool. Seq lives apart in m/seq
// because every batch of edits rewrites it.
type lineageRecord struct {
	V      int           `json:"v"`
	ShowID string        `json:"show_id"`
	Epochs []epochRecord `json:"epochs"`
}

type epochRecord struct {
	ID       string `json:"id"`
	FirstSeq uint64 `json:"first_seq"`
}

func encodeLineage(l Lineage) []byte {
	r := lineageRecord{V: 1, ShowID: l.ShowID, Epochs: []epochRecord{}}
	for _, e := range l.Epochs {
		r.Epochs = append(r.Epochs, epochRecord{e.ID, e.FirstSeq})
	}
	b, err := json.Marshal(r)
	if err != nil {
		panic(err) // plain strings and numbers always marshal
	}
	return b
}

func decodeLineage(b []byte) (Lineage, error) {
	var r lineageRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return Lineage{}, fmt.Errorf("lineage record: %w", err)
	}
	if r.V != 1 {
		return Lineage{}, fmt.Errorf("lineage record: unknown version %d", r.V)
	}
	l := Lineage{ShowID: r.ShowID}
	for _, e := range r.Epochs {
		l.Epochs = append(l.Epochs, Epoch{e.ID, e.FirstSeq})
	}
	return l, nil
}

func encodeSeq(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

// loadLineage reads the lineage back at open and checks that the record, the
// seq and the edit log agree, so a damaged copy is never served as if whole.
func loadLineage(db *pebble.DB) (Lineage, error) {
	raw, err := getCopy(db, keyLineage)
	if err != nil {
		return Lineage{}, err
	}
	if raw == nil {
		return Lineage{}, errors.New("no lineage record (not a show, or its creation did not finish)")
	}
	lin, err := decodeLineage(raw)
	if err != nil {
		return Lineage{}, err
	}
	rawSeq, err := getCopy(db, keySeq)
	if err != nil {
		return Lineage{}, err
	}
	if len(rawSeq) != 8 {
		return Lineage{}, fmt.Errorf("seq record is %d bytes, want 8", len(rawSeq))
	}
	lin.Seq = binary.BigEndian.Uint64(rawSeq)
	if lin.ShowID == "" {
		return Lineage{}, errors.New("lineage record has no ShowID")
	}
	if err := checkEpochs(lin.Epochs, lin.Seq); err != nil {
		return Lineage{}, fmt.Errorf("lineage record: %w", err)
	}
	// The log may be empty (a copy received whole), never out of step.
	first, last, err := logBounds(db)
	if err != nil {
		return Lineage{}, err
	}
	if last != 0 && last != lin.Seq {
		return Lineage{}, fmt.Errorf("edit log ends at seq %d but the show's seq is %d", last, lin.Seq)
	}
	if first == 0 && last != 0 {
		return Lineage{}, errors.New("edit log holds seq 0")
	}
	return lin, nil
}

func getCopy(db *pebble.DB, key []byte) ([]byte, error) {
	v, closer, err := db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	v = slices.Clone(v)
	closer.Close()
	return v, nil
}

// checkEpochs: IDs non-empty, at most maxEpochID bytes and unique; the first
// epoch starts at seq 1; FirstSeq never decreases (an epoch with no edits
// shares its FirstSeq with the next) and never passes seq+1, as no epoch can
// begin after edits that are not here yet. Edits 1..seq need an epoch.
func checkEpochs(eps []Epoch, seq uint64) error {
	if seq > 0 && len(eps) == 0 {
		return fmt.Errorf("edits 1..%d have no epoch", seq)
	}
	seen := make(map[string]bool, len(eps))
	for i, e := range eps {
		if err := checkEpochID(e.ID); err != nil {
			return err
		}
		if seen[e.ID] {
			return fmt.Errorf("epoch %q appears twice", e.ID)
		}
		seen[e.ID] = true
		switch {
		case i == 0 && e.FirstSeq != 1:
			return fmt.Errorf("first epoch %q begins at seq %d, not 1", e.ID, e.FirstSeq)
		case i > 0 && e.FirstSeq < eps[i-1].FirstSeq:
			return fmt.Errorf("epoch %q begins at seq %d, before the epoch %q before it (%d)", e.ID, e.FirstSeq, eps[i-1].ID, eps[i-1].FirstSeq)
		case e.FirstSeq > seq+1:
			return fmt.Errorf("epoch %q begins at seq %d, past the next seq %d", e.ID, e.FirstSeq, seq+1)
		}
	}
	return nil
}

func checkEpochID(id string) error {
	if id == "" {
		return errors.New("epoch ID is empty")
	}
	if len(id) > maxEpochID {
		return fmt.Errorf("epoch ID %s is %d bytes, the limit is %d", quoteKey(id), len(id), maxEpochID)
	}
	return nil
}

// owners lists the epochs that hold at least one of the edits 1..seq, as
// (ID, FirstSeq): what the lineage says about edits already present.
func owners(eps []Epoch, seq uint64) []Epoch {
	var out []Epoch
	for i, e := range eps {
		end := seq + 1
		if i+1 < len(eps) && eps[i+1].FirstSeq < end {
			end = eps[i+1].FirstSeq
		}
		if e.FirstSeq < end {
			out = append(out, e)
		}
	}
	return out
}

// StartEpoch begins epoch id at Seq+1 and records it durably. id must be
// non-empty, at most 128 bytes, and new to the history.
func (sh *Show) StartEpoch(id string) (Lineage, error) {
	if err := checkEpochID(id); err != nil {
		return Lineage{}, fmt.Errorf("store: show %s: start epoch: %w", sh.name, err)
	}
	var out Lineage
	err := sh.writeLineage(func(cur Lineage) (Lineage, error) {
		for _, e := range cur.Epochs {
			if e.ID == id {
				return Lineage{}, fmt.Errorf("store: show %s: start epoch: epoch %q is already in the history (since seq %d)", sh.name, id, e.FirstSeq)
			}
		}
		cur.Epochs = append(slices.Clone(cur.Epochs), Epoch{ID: id, FirstSeq: cur.Seq + 1})
		out = cur
		return cur, nil
	})
	return out, err
}

// SetLineage adopts l as the show's lineage (durably), for the engine when it
// takes on a peer's history. l.Seq must equal the show's Seq, and l must tell
// the same story about the edits already here: same ShowID (unless the show is
// empty) and the same epoch for every seq 1..Seq. Anything else would relabel
// existing edits, and a mislabeled copy could later pass for a prefix of a
// history it is not part of; such a copy must be replaced, not relabeled.
func (sh *Show) SetLineage(l Lineage) error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("store: show %s: set lineage: %s", sh.name, fmt.Sprintf(format, args...))
	}
	if l.ShowID == "" {
		return fail("ShowID is empty")
	}
	if err := checkEpochs(l.Epochs, l.Seq); err != nil {
		return fail("%v", err)
	}
	return sh.writeLineage(func(cur Lineage) (Lineage, error) {
		if l.Seq != cur.Seq {
			return Lineage{}, fail("seq is %d but the show is at %d", l.Seq, cur.Seq)
		}
		if cur.Seq > 0 && l.ShowID != cur.ShowID {
			return Lineage{}, fail("ShowID %s differs from the show's %s, which already has edits", l.ShowID, cur.ShowID)
		}
		if !slices.Equal(owners(l.Epochs, cur.Seq), owners(cur.Epochs, cur.Seq)) {
			return Lineage{}, fail("the epochs of edits 1..%d would change (have %v, got %v)", cur.Seq, cur.Epochs, l.Epochs)
		}
		l.Epochs = slices.Clone(l.Epochs)
		return l, nil
	})
}

// writeLineage replaces the lineage record under the write lock, so it is
// ordered with the edits, and syncs it before returning.
func (sh *Show) writeLineage(change func(cur Lineage) (Lineage, error)) error {
	if sh.placeholder {
		return fmt.Errorf("store: show %s: %w", sh.name, ErrPlaceholder)
	}
	if err := sh.enter(); err != nil {
		return err
	}
	defer sh.leave()
	sh.wmu.Lock()
	defer sh.wmu.Unlock()
	if sh.failed != nil {
		return fmt.Errorf("store: show %s: refusing writes after a failed write (reopen the show): %w", sh.name, sh.failed)
	}
	next, err := change(sh.Lineage())
	if err != nil {
		return err
	}
	if err := sh.db.Set(keyLineage, encodeLineage(next), pebble.Sync); err != nil {
		return fmt.Errorf("store: show %s: write lineage: %w", sh.name, err)
	}
	sh.lmu.Lock()
	sh.lin.ShowID, sh.lin.Epochs = next.ShowID, next.Epochs
	sh.lmu.Unlock()
	return nil
}
