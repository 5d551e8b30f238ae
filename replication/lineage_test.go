package replication

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"consoled/replication/store"
)

// A copy in the model is the epoch of each seq it holds: copy[s-1] is the
// epoch that ordered seq s. The truth about two copies is then plain list
// comparison, which Compare must match from the compressed lineages alone.
type modelCopy []string

func (c modelCopy) lineage(r *rand.Rand, showID string) store.Lineage {
	l := store.Lineage{ShowID: showID, Seq: uint64(len(c))}
	for i, e := range c {
		seq := uint64(i + 1)
		if i == 0 || c[i-1] != e {
			// Now and then a launch that ordered nothing before the next one.
			if r.IntN(4) == 0 {
				l.Epochs = append(l.Epochs, store.Epoch{ID: fmt.Sprintf("empty-%d", r.Int64()), FirstSeq: seq})
			}
			l.Epochs = append(l.Epochs, store.Epoch{ID: e, FirstSeq: seq})
		}
	}
	if r.IntN(4) == 0 { // launched, then logged off before any edit
		l.Epochs = append(l.Epochs, store.Epoch{ID: fmt.Sprintf("tail-%d", r.Int64()), FirstSeq: l.Seq + 1})
	}
	return l
}

func truth(a, b modelCopy) Comparison {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	c := Comparison{Common: uint64(n)}
	switch {
	case n == len(a) && n == len(b):
		c.Relation = Same
	case n == len(a):
		c.Relation = APrefix
	case n == len(b):
		c.Relation = BPrefix
	default:
		c.Relation = Diverged
	}
	return c
}

func TestCompareProperties(t *testing.T) {
	for seed := uint64(0); seed < 3000; seed++ {
		r := rand.New(rand.NewPCG(seed, 7))
		epochN := 0
		mint := func() string { epochN++; return fmt.Sprintf("e%d", epochN) }
		// Grow a family of copies: each step takes an existing copy, cuts it
		// back (a console that left early) and extends it in a new epoch (a
		// console that launched from that copy), or just cuts it.
		copies := []modelCopy{{}}
		for step := 0; step < 2+r.IntN(8); step++ {
			base := copies[r.IntN(len(copies))]
			cut := append(modelCopy(nil), base[:r.IntN(len(base)+1)]...)
			if r.IntN(3) > 0 {
				e := mint()
				for k := 0; k < 1+r.IntN(5); k++ {
					cut = append(cut, e)
				}
			}
			copies = append(copies, cut)
		}
		// Two consoles that launch the same history independently mint
		// different epochs from the same point.
		base := copies[r.IntN(len(copies))]
		x := append(append(modelCopy(nil), base...), mint())
		y := append(append(modelCopy(nil), base...), mint())
		copies = append(copies, x, y)

		for i := range copies {
			for j := range copies {
				a, b := copies[i], copies[j]
				if len(a) == 0 || len(b) == 0 {
					continue // empty copies: see TestCompareEmptyAndUnrelated
				}
				got := Compare(a.lineage(r, "show"), b.lineage(r, "show"))
				want := truth(a, b)
				if got != want {
					t.Fatalf("seed %d: Compare(%v, %v) = %v common %d, want %v common %d",
						seed, a, b, got.Relation, got.Common, want.Relation, want.Common)
				}
			}
		}
	}
}

func TestCompareEmptyAndUnrelated(t *testing.T) {
	full := store.Lineage{ShowID: "s1", Epochs: []store.Epoch{{ID: "e1", FirstSeq: 1}}, Seq: 3}
	empty := store.Lineage{ShowID: "s2", Epochs: []store.Epoch{{ID: "e9", FirstSeq: 1}}}
	other := store.Lineage{ShowID: "s2", Epochs: []store.Epoch{{ID: "e1", FirstSeq: 1}}, Seq: 3}
	for _, tc := range []struct {
		a, b store.Lineage
		want Relation
	}{
		{empty, full, APrefix},
		{full, empty, BPrefix},
		{empty, empty, Same},
		{full, other, Unrelated}, // same epoch name, different show: never a prefix
		{store.Lineage{ShowID: "a"}, store.Lineage{ShowID: "b"}, APrefix},
	} {
		if got := Compare(tc.a, tc.b).Relation; got != tc.want {
			t.Errorf("Compare(%+v, %+v) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

// Logs and archives name the consoles whose copies a relation is about.
func TestRelationBetween(t *testing.T) {
	for r, want := range map[Relation]string{
		Same:      "desk-2's copy is the same as desk-1's",
		APrefix:   "desk-2's copy is a prefix of desk-1's",
		BPrefix:   "desk-1's copy is a prefix of desk-2's",
		Diverged:  "desk-2's and desk-1's copies diverged",
		Unrelated: "desk-2's and desk-1's copies are of different shows",
	} {
		if got := r.Between("desk-2", "desk-1"); got != want {
			t.Errorf("%s: %q, want %q", r, got, want)
		}
	}
}
