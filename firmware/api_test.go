package firmware

import (
	"consoled/api"

	"bytes"
	"encoding/json"
	"testing"
)

// parseEditRequest is a shortcut past encoding/json: whatever it accepts must
// decode exactly as readJSON would decode it.
func FuzzParseEditRequest(f *testing.F) {
	for _, s := range []string{
		`{"key":"cue/1","value":"{\"fade\":3,\"level\":100}"}`, `{"delete":true,"key":"x"}`, ` { } `,
		`{"key":"a\/b","value":"tab\there\nnl \\ back"}`, `{"key":"é","value":"ü"}`, `{"key":"a","value":"\u00e9"}`,
		`{"key":"a","Value":"b"}`, `{"key":"a","value":"b"}x`, `{"key":"a","key":"b"}`, `{"key":"a","value":null}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var fast api.EditRequest
		v, ok := parseEditRequest(b, &fast)
		if !ok {
			return
		}
		var slow api.EditRequest
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&slow); err != nil {
			t.Fatalf("parsed %q, which encoding/json refuses: %v", b, err)
		}
		if fast.Key != slow.Key || string(v) != slow.Value || fast.Delete != slow.Delete {
			t.Fatalf("%q: parsed key %q value %q delete %v, encoding/json %+v", b, fast.Key, v, fast.Delete, slow)
		}
	})
}

func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{"", "plain", `{"fade":3}`, "back\\slash", "ctl\x00\x01\x1f\t\n\r", "ünï €"} {
		got := appendJSONString(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil || back != s {
			t.Errorf("appendJSONString(%q) = %s, decodes to %q (%v)", s, got, back, err)
		}
	}
}
