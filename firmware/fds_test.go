package firmware

import (
	"os"
	"testing"
)

func TestDescriptors(t *testing.T) {
	open, limit, err := Descriptors()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	more, _, err := Descriptors()
	if err != nil {
		t.Fatal(err)
	}
	if more != open+1 || limit == 0 {
		t.Fatalf("descriptors: %d, then %d with one more open; limit %d", open, more, limit)
	}
}
