package replication

import (
	"fmt"

	"consoled/replication/store"
)

// Relation is how two copies of a show relate, from their lineages alone.
type Relation int

const (
	Same      Relation = iota // identical histories
	APrefix                   // A's history is a strict prefix of B's: B has everything A has, and more
	BPrefix                   // B's is a strict prefix of A's
	Diverged                  // both have edits the other lacks, after a common prefix
	Unrelated                 // different shows (ShowIDs differ, both non-empty)
)

func (r Relation) String() string {
	switch r {
	case Same:
		return "same"
	case APrefix:
		return "A is a prefix of B"
	case BPrefix:
		return "B is a prefix of A"
	case Diverged:
		return "diverged"
	case Unrelated:
		return "unrelated"
	}
	return fmt.Sprintf("Relation(%d)", int(r))
}

// Between says r in words for logs and archives, for A the copy of
// console a and B that of console b: "desk-2's copy is a prefix of desk-1's".
func (r Relation) Between(a, b string) string {
	switch r {
	case Same:
		return fmt.Sprintf("%s's copy is the same as %s's", a, b)
	case APrefix:
		return fmt.Sprintf("%s's copy is a prefix of %s's", a, b)
	case BPrefix:
		return fmt.Sprintf("%s's copy is a prefix of %s's", b, a)
	case Diverged:
		return fmt.Sprintf("%s's and %s's copies diverged", a, b)
	case Unrelated:
		return fmt.Sprintf("%s's and %s's copies are of different shows", a, b)
	}
	return r.String()
}

// Comparison is the result of Compare.
type Comparison struct {
	Relation Relation
	// Common is the last seq both copies hold identically (the length of the
	// common prefix). For Diverged, the copies differ from Common+1 on.
	Common uint64
}

// segment is a run of seqs [from, to] ordered in one epoch.
type segment struct {
	epoch    string
	from, to uint64
}

// segments turns an epoch history into the runs of seqs the copy actually
// holds: epochs that ordered no edit (or none the copy has) drop out, so two
// copies compare by what they hold, not by how often a console relaunched.
func segments(l store.Lineage) []segment {
	var out []segment
	for i, e := range l.Epochs {
		to := l.Seq
		if i+1 < len(l.Epochs) {
			to = min(to, l.Epochs[i+1].FirstSeq-1)
		}
		if e.FirstSeq > to {
			continue
		}
		out = append(out, segment{e.ID, e.FirstSeq, to})
	}
	return out
}

// Compare relates copy A to copy B. It is exact: an edit is named by its
// (epoch, seq) because an epoch ID is minted once, by one console, which
// gives each seq of the epoch to one edit only. So two copies hold the same
// edit at seq s exactly when both order s in the same epoch, and "prefix"
// is never claimed for copies that differ anywhere.
func Compare(a, b store.Lineage) Comparison {
	if a.Seq == 0 && b.Seq == 0 {
		if a.ShowID == b.ShowID {
			return Comparison{Relation: Same}
		}
		// Two empty copies hold the same (nothing), but they are different
		// shows; either may be replaced by the other without loss.
		return Comparison{Relation: APrefix}
	}
	if a.Seq == 0 {
		return Comparison{Relation: APrefix}
	}
	if b.Seq == 0 {
		return Comparison{Relation: BPrefix}
	}
	if a.ShowID != b.ShowID {
		return Comparison{Relation: Unrelated}
	}
	sa, sb := segments(a), segments(b)
	var common uint64
	i, j := 0, 0
	for i < len(sa) && j < len(sb) {
		x, y := sa[i], sb[j]
		if x.epoch != y.epoch || x.from != y.from {
			break
		}
		end := min(x.to, y.to)
		common = end
		if x.to != y.to {
			// One copy stops inside this epoch. The other continues it or
			// moved on; either way the shorter one ends here.
			if x.to < y.to && i+1 == len(sa) {
				return Comparison{Relation: APrefix, Common: common}
			}
			if y.to < x.to && j+1 == len(sb) {
				return Comparison{Relation: BPrefix, Common: common}
			}
			return Comparison{Relation: Diverged, Common: common}
		}
		i, j = i+1, j+1
	}
	switch {
	case i == len(sa) && j == len(sb):
		return Comparison{Relation: Same, Common: common}
	case i == len(sa):
		return Comparison{Relation: APrefix, Common: common}
	case j == len(sb):
		return Comparison{Relation: BPrefix, Common: common}
	}
	return Comparison{Relation: Diverged, Common: common}
}
