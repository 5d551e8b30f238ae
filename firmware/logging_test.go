package firmware

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
)

// --log-format json writes one JSON object a line; text is key=value; any
// other is a usage error naming the flag.
func TestLogFormat(t *testing.T) {
	for _, c := range []struct {
		args []string
		json bool
	}{
		{nil, false},
		{[]string{"--log-format", "text"}, false},
		{[]string{"--log-format", "json"}, true},
	} {
		cfg, err := ParseArgs(append([]string{"--id", "t1"}, c.args...), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		newLogger(cfg, &b).Info("console started", "console", "t1")
		var m map[string]any
		isJSON := json.Unmarshal(b.Bytes(), &m) == nil && m["msg"] == "console started" && m["console"] == "t1"
		if isJSON != c.json || (!c.json && !strings.Contains(b.String(), `msg="console started" console=t1`)) {
			t.Errorf("%v: wrote %q", c.args, b.String())
		}
	}
	_, err := ParseArgs([]string{"--log-format", "yaml"}, io.Discard)
	if !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), "--log-format") {
		t.Errorf("--log-format yaml: %v", err)
	}
}
