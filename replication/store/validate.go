package store

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

const (
	MaxKeyLen   = 256     // bytes
	MaxValueLen = 1 << 20 // 1 MiB
	maxShowName = 64
)

// ValidateKey checks an object key. A key is kind/id: a non-empty kind, a '/',
// and a non-empty id (the id may itself contain '/'). It must be valid UTF-8,
// at most MaxKeyLen bytes, and every character printable and not a space
// (unicode.IsPrint minus ' '): consoles label cues and palettes in many
// languages, but a key must survive a shell, a log line and a terminal
// unchanged, so spaces, control and invisible format characters are refused.
func ValidateKey(key string) error {
	if key == "" {
		return fmt.Errorf("store: key is empty, it must be kind/id (like cue/1.5)")
	}
	if len(key) > MaxKeyLen {
		return fmt.Errorf("store: key %s is %d bytes, the limit is %d", quoteKey(key), len(key), MaxKeyLen)
	}
	if !utf8.ValidString(key) {
		return fmt.Errorf("store: key %s is not valid UTF-8", quoteKey(key))
	}
	for i, r := range key {
		if r == ' ' || unicode.IsSpace(r) {
			return fmt.Errorf("store: key %s has a space at byte %d; keys may not contain spaces", quoteKey(key), i)
		}
		if !unicode.IsPrint(r) {
			return fmt.Errorf("store: key %s has a control or non-printable character at byte %d", quoteKey(key), i)
		}
	}
	kind, id, ok := strings.Cut(key, "/")
	if !ok || kind == "" || id == "" {
		return fmt.Errorf("store: key %s must be kind/id (like cue/1.5)", quoteKey(key))
	}
	return nil
}

// ValidateValue checks an object value: at most MaxValueLen bytes, any content.
func ValidateValue(v []byte) error {
	if len(v) > MaxValueLen {
		return fmt.Errorf("store: value is %d bytes, the limit is %d (1 MiB)", len(v), MaxValueLen)
	}
	return nil
}

// ValidateShowName checks a show name: 1..64 of [A-Za-z0-9._-], not starting
// with '.' or '-'. The name is a directory name, so this keeps it portable and
// keeps "." and ".." and hidden or option-like names out; the store uses names
// starting with '.' for its own temporary directories.
func ValidateShowName(name string) error {
	if name == "" {
		return fmt.Errorf("store: show name is empty")
	}
	if len(name) > maxShowName {
		return fmt.Errorf("store: show name %s is %d bytes, the limit is %d", quoteKey(name), len(name), maxShowName)
	}
	if name[0] == '.' || name[0] == '-' {
		return fmt.Errorf("store: show name %q may not start with %q", name, name[0])
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
		if !ok {
			return fmt.Errorf("store: show name %s has %q at byte %d; use only letters, digits, '.', '_' and '-'", quoteKey(name), c, i)
		}
	}
	return nil
}

// quoteKey quotes s for an error message, cut to a readable length.
func quoteKey(s string) string {
	const max = 40
	if len(s) <= max {
		return fmt.Sprintf("%q", s)
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%q…", s[:cut])
}

// ValidateEpochs checks an epoch history as a copy holding edits 1..seq
// would have it: IDs non-empty, at most 128 bytes and unique; the first
// epoch begins at seq 1, none begins before the one before it, and none
// after seq+1. The engine checks what peers send with it.
func ValidateEpochs(eps []Epoch, seq uint64) error { return checkEpochs(eps, seq) }

// ValidateEpochID checks one epoch ID.
func ValidateEpochID(id string) error { return checkEpochID(id) }
