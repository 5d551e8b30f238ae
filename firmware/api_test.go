package firmware

import (
	"encoding/json"
	"testing"
)

func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{"", "plain", `{"fade":3}`, "back\\slash", "ctl\x00\x01\x1f\t\n\r", "ünï €"} {
		got := appendJSONString(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil || back != s {
			t.Errorf("appendJSONString(%q) = %s, decodes to %q (%v)", s, got, back, err)
		}
	}
}
