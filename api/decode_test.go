package api

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestDecodeRequest(t *testing.T) {
	for _, c := range []struct{ body, want string }{
		{`{"key":"cue/1","value":"a"}`, ""},
		{` {"delete":true,"key":"cue/1"} ` + "\n", ""},
		{`{"key":"cue/1","value":"\ud83c\udfad\u00e9\\u\"\\"}`, ""},
		{`{"key":"a\\ud800"}`, ""}, // an escaped backslash, then text
		{`{"key":"cue/1","value":"` + "\xff" + `"}`, "not valid UTF-8"},
		{`{"key":"cue/1","value":"\ud800"}`, "lone surrogate \\ud800"},
		{`{"key":"cue/1","value":"\ud800x"}`, "lone surrogate"},
		{`{"key":"cue/1","value":"\ud800\u0041"}`, "lone surrogate"},
		{`{"key":"cue/1","value":"\uDFFF"}`, "lone surrogate \\udfff"},
		{`{"key":"a"} {"key":"b"}`, "data after the JSON object"},
		{`{"key":"a"}]`, "data after the JSON object"},
		{`{"key":"a","key":"b"}`, `field "key" twice`},
		{`{"key":"a","KEY":"b"}`, `field "KEY" twice`},
		{`{"key":"a","nope":1}`, `unknown field "nope"`},
		{`{"key":"a"`, "unexpected EOF"},
		{` `, "empty request"},
		{`[]`, "cannot unmarshal array"},
	} {
		var req EditRequest
		err := DecodeRequest([]byte(c.body), &req)
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%q: %v, want %q", c.body, err, c.want)
		}
	}
}

// FuzzDecodeRequest: whatever DecodeRequest takes, encoding/json takes the
// same way, and it round-trips; it never panics.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{`{"key":"cue/1","value":"{\"fade\":3}"}`, `{"delete":true,"key":"x"}`, `{"key":"\ud83c\udfad"}`, `{"key":"a","key":"b"}`, `{"key":"\ud800"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var strict EditRequest
		if DecodeRequest(b, &strict) != nil {
			return
		}
		var loose EditRequest
		if err := json.Unmarshal(b, &loose); err != nil || loose != strict {
			t.Fatalf("%q: strict %+v, encoding/json %+v (%v)", b, strict, loose, err)
		}
		if strings.ContainsRune(strict.Key+strict.Value, '\uFFFD') && !strings.Contains(string(b), "\uFFFD") && !strings.Contains(strings.ToLower(string(b)), `\ufffd`) {
			t.Fatalf("%q decoded to a replacement character", b)
		}
	})
}
