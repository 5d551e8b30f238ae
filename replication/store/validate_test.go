package store

import (
	"strings"
	"testing"
)

func TestValidateKey(t *testing.T) {
	long256 := "cue/" + strings.Repeat("x", 252)
	tests := []struct {
		key     string
		wantErr string // "" = valid; else a substring of the error
	}{
		{"cue/1.5", ""},
		{"cue/1/2", ""}, // the id may contain '/'
		{"palette/Rouge-été", ""},
		{"cue/a~!@#$%^&*()", ""},
		{long256, ""},
		{long256 + "x", "is 257 bytes, the limit is 256"},
		{"", "kind/id"},
		{"cue", `key "cue" must be kind/id (like cue/1.5)`},
		{"/1", "must be kind/id"},
		{"cue/", "must be kind/id"},
		{"/", "must be kind/id"},
		{"cue/1 5", "space"},
		{"cue/1\u00a05", "space"}, // no-break space
		{"cue/1\t5", "space"},
		{"cue/1\x005", "control"},
		{"cue/1\x1b5", "control"},
		{"cue/1\x7f", "control"},
		{"cue/\u200b", "non-printable"}, // zero-width space (format char)
		{"cue/\xff", "not valid UTF-8"},
	}
	for _, tt := range tests {
		err := ValidateKey(tt.key)
		if tt.wantErr == "" {
			if err != nil {
				t.Errorf("ValidateKey(%q) = %v, want nil", tt.key, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("ValidateKey(%q) = nil, want error containing %q", tt.key, tt.wantErr)
		} else if !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("ValidateKey(%q) = %q, want it to contain %q", tt.key, err, tt.wantErr)
		}
	}
}

func TestValidateKeyLongKeyIsTruncatedInError(t *testing.T) {
	err := ValidateKey("cue/" + strings.Repeat("y", 1000))
	if err == nil || len(err.Error()) > 150 || !strings.Contains(err.Error(), "…") {
		t.Fatalf("error for a long key should quote it truncated: %v", err)
	}
}

func TestValidateValue(t *testing.T) {
	if err := ValidateValue(nil); err != nil {
		t.Errorf("empty value: %v", err)
	}
	if err := ValidateValue(make([]byte, MaxValueLen)); err != nil {
		t.Errorf("1 MiB value: %v", err)
	}
	err := ValidateValue(make([]byte, MaxValueLen+1))
	if err == nil || !strings.Contains(err.Error(), "1048577 bytes, the limit is 1048576") {
		t.Errorf("1 MiB+1 value: got %v, want the limit named", err)
	}
}

func TestValidateShowName(t *testing.T) {
	good := []string{"demo", "Show_2024.v1", "a", "0", strings.Repeat("a", 64), "a-b"}
	for _, n := range good {
		if err := ValidateShowName(n); err != nil {
			t.Errorf("ValidateShowName(%q) = %v", n, err)
		}
	}
	bad := map[string]string{
		"":                      "empty",
		strings.Repeat("a", 65): "the limit is 64",
		".hidden":               "may not start",
		"..":                    "may not start",
		"-rf":                   "may not start",
		"a/b":                   "'/'",
		"a b":                   "' '",
		"é":                     "byte 0",
	}
	for n, want := range bad {
		err := ValidateShowName(n)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ValidateShowName(%q) = %v, want error containing %q", n, err, want)
		}
	}
}

func TestFormatBytes(t *testing.T) {
	for n, want := range map[uint64]string{
		0:              "0 B",
		1000:           "1000 B",
		3_250_000:      "3.1 MiB",
		16 << 20:       "16 MiB",
		1 << 62:        "4 EiB",
		1536:           "1.5 KiB",
		10<<30 + 1<<29: "10.5 GiB",
	} {
		if got := formatBytes(n); got != want {
			t.Errorf("formatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
