package firmware

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// /metrics parses as the Prometheus text format, with a charset, and has
// the Go and process collectors, the engine's counters, the derived ones,
// the histograms and the gauges; edits made show in the counters and the
// latency histogram.
func TestMetrics(t *testing.T) {
	ts := startTestService(t, Options{}, "--http", "127.0.0.1:0")
	if code, body := ts.post("/v1/launch", `{"show":"demo"}`); code != 200 {
		t.Fatalf("launch: %d %s", code, body)
	}
	for i := range 3 {
		if code, body := ts.post("/v1/edit", fmt.Sprintf(`{"key":"cue/%d","value":"x"}`, i)); code != 200 {
			t.Fatalf("edit: %d %s", code, body)
		}
	}
	resp, err := http.Get("http://" + ts.svc.HTTPAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.Contains(ct, "text/plain") || !strings.Contains(ct, "charset=utf-8") {
		t.Errorf("Content-Type %q, want text/plain with charset=utf-8", ct)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	for name, typ := range map[string]dto.MetricType{
		"go_goroutines": dto.MetricType_GAUGE, "process_open_fds": dto.MetricType_GAUGE,
		"consoled_full_syncs_total": dto.MetricType_COUNTER, "consoled_catch_ups_total": dto.MetricType_COUNTER,
		"consoled_adoptions_total": dto.MetricType_COUNTER, "consoled_merges_total": dto.MetricType_COUNTER,
		"consoled_auth_refused_total": dto.MetricType_COUNTER, "consoled_failovers_total": dto.MetricType_COUNTER,
		"consoled_edit_ack_seconds": dto.MetricType_HISTOGRAM, "consoled_no_active_seconds": dto.MetricType_HISTOGRAM,
		"consoled_full_sync_seconds": dto.MetricType_HISTOGRAM, "consoled_full_sync_bytes": dto.MetricType_HISTOGRAM,
		"consoled_peers_connected": dto.MetricType_GAUGE, "consoled_peer_lag_edits": dto.MetricType_GAUGE,
		"consoled_seq": dto.MetricType_GAUGE, "consoled_edits_acknowledged_total": dto.MetricType_COUNTER,
		"consoled_role": dto.MetricType_GAUGE, "consoled_link_up": dto.MetricType_GAUGE,
	} {
		f, ok := fams[name]
		if !ok {
			t.Errorf("no metric %s", name)
			continue
		}
		if f.GetType() != typ {
			t.Errorf("%s is a %s, want %s", name, f.GetType(), typ)
		}
	}
	value := func(name string) float64 {
		f := fams[name]
		if f == nil || len(f.Metric) == 0 {
			return -1
		}
		m := f.Metric[0]
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
		return -1
	}
	if v := value("consoled_edits_acknowledged_total"); v != 3 {
		t.Errorf("consoled_edits_acknowledged_total %v, want 3", v)
	}
	if v := value("consoled_edit_ack_seconds"); v != 3 {
		t.Errorf("consoled_edit_ack_seconds counts %v edits, want 3", v)
	}
	if v := value("consoled_seq"); v != 3 {
		t.Errorf("consoled_seq %v, want 3", v)
	}
	// The active's own lag, labelled with its name.
	if f := fams["consoled_peer_lag_edits"]; f == nil || len(f.Metric) != 1 || f.Metric[0].GetLabel()[0].GetValue() != "t1" || f.Metric[0].Gauge.GetValue() != 0 {
		t.Errorf("consoled_peer_lag_edits: %v", f)
	}
}
