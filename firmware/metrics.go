package firmware

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the console's Prometheus metrics, on --http at /metrics. Each
// service has its own registry, so that consoles run in one process (the
// tests) count apart.
//
// Counters the engine keeps (full syncs, catch-ups, adoptions, auth
// refusals) are read from its status at each scrape. What the engine does
// not count is derived from its status changes by the observer (failovers,
// time without an active, merges, full-copy duration and bytes) or measured
// by the service itself (edit acknowledgement latency).
type metrics struct {
	reg *prometheus.Registry

	editAck   prometheus.Histogram
	noActive  prometheus.Histogram
	syncTime  prometheus.Histogram
	syncBytes prometheus.Histogram
	failovers prometheus.Counter
	merges    prometheus.Counter
}

func newMetrics(s *Service) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		editAck: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "consoled_edit_ack_seconds", Help: "Time from an edit's submission through this console to its acknowledgement (durable as --ack says).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14), // 0.5 ms to 4 s
		}),
		noActive: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "consoled_no_active_seconds", Help: "How long the show had no active server, as this console saw it, each time it lost one and found one again.",
			Buckets: []float64{0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 2, 5, 10, 30},
		}),
		syncTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "consoled_full_sync_seconds", Help: "Duration of the full copies this console received.",
			Buckets: prometheus.ExponentialBuckets(0.1, 2, 12), // 0.1 s to 200 s
		}),
		syncBytes: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "consoled_full_sync_bytes", Help: "Size of the full copies this console received, as written to its disk.",
			Buckets: prometheus.ExponentialBuckets(1<<20, 4, 8), // 1 MiB to 16 GiB
		}),
		failovers: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "consoled_failovers_total", Help: "Times another console became the show's active after the one before it went (seen from this console).",
		}),
		merges: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "consoled_merges_total", Help: "Divergence merges this console took part in.",
		}),
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.editAck, m.noActive, m.syncTime, m.syncBytes, m.failovers, m.merges,
		&statusCollector{s: s},
	)
	return m
}

// hooks connect the observer's findings to the metrics.
func (m *metrics) hooks() observerHooks {
	return observerHooks{
		failover: func(time.Duration) { m.failovers.Inc() },
		noActive: func(gap time.Duration) { m.noActive.Observe(gap.Seconds()) },
		merge:    m.merges.Inc,
		fullSync: func(took time.Duration, bytes int64) {
			m.syncTime.Observe(took.Seconds())
			if bytes > 0 {
				m.syncBytes.Observe(float64(bytes))
			}
		},
	}
}

func (m *metrics) handler(errLog promhttp.Logger) http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorLog: errLog})
}

// statusCollector reads the console's status once per scrape.
type statusCollector struct{ s *Service }

var (
	descSeq          = prometheus.NewDesc("consoled_seq", "Last sequence number of the live show copy.", nil, nil)
	descAcked        = prometheus.NewDesc("consoled_edits_acknowledged_total", "Edits acknowledged through this console.", nil, nil)
	descRole         = prometheus.NewDesc("consoled_role", "1 for the console's current role.", []string{"role"}, nil)
	descLink         = prometheus.NewDesc("consoled_link_up", "NIC carrier.", nil, nil)
	descFaults       = prometheus.NewDesc("consoled_faults", "Current faults.", nil, nil)
	descOpenFDs      = prometheus.NewDesc("consoled_open_fds", "Open file descriptors.", nil, nil)
	descMaxFDs       = prometheus.NewDesc("consoled_max_fds", "The limit on open file descriptors.", nil, nil)
	descFullSyncs    = prometheus.NewDesc("consoled_full_syncs_total", "Whole copies sent to joining backups.", nil, nil)
	descCatchUps     = prometheus.NewDesc("consoled_catch_ups_total", "Backups brought up to date with the edits they missed only.", nil, nil)
	descAdoptions    = prometheus.NewDesc("consoled_adoptions_total", "Joiners with newer copies whose edits this active took.", nil, nil)
	descAuthRefused  = prometheus.NewDesc("consoled_auth_refused_total", "Peer connections refused for a wrong or missing network key.", nil, nil)
	descPeersConn    = prometheus.NewDesc("consoled_peers_connected", "Other consoles connected to this one.", nil, nil)
	descPeerLag      = prometheus.NewDesc("consoled_peer_lag_edits", "Edits a console of the show is behind the active (0 for the active).", []string{"console"}, nil)
	descCopyBytes    = prometheus.NewDesc("consoled_copy_bytes", "Bytes of the full copy arriving now (0 when none).", nil, nil)
	descSyncing      = prometheus.NewDesc("consoled_syncing", "1 while a copy is being transferred.", nil, nil)
	descBadMessages  = prometheus.NewDesc("consoled_bad_messages_total", "Peer messages refused as malformed or out of place.", nil, nil)
	descConnsRefused = prometheus.NewDesc("consoled_conns_refused_total", "Peer connections refused over a source address's share.", nil, nil)
)

func (c *statusCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descSeq, descAcked, descRole, descLink, descFaults, descOpenFDs, descMaxFDs,
		descFullSyncs, descCatchUps, descAdoptions, descAuthRefused, descPeersConn, descPeerLag, descCopyBytes,
		descSyncing, descBadMessages, descConnsRefused} {
		ch <- d
	}
}

func (c *statusCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.status()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	gauge(descSeq, float64(st.Seq))
	counter(descAcked, float64(st.Acked))
	for _, r := range []string{"off", "active", "backup", "syncing"} {
		gauge(descRole, b2f(st.Role == r), r)
	}
	gauge(descLink, b2f(st.Link == "up"))
	gauge(descFaults, float64(len(st.Faults)))
	gauge(descOpenFDs, float64(st.Descriptors.Open))
	gauge(descMaxFDs, float64(st.Descriptors.Limit))
	counter(descFullSyncs, float64(st.FullSyncs))
	counter(descCatchUps, float64(st.CatchUps))
	counter(descAdoptions, float64(st.Adoptions))
	counter(descAuthRefused, float64(st.AuthRefused))
	counter(descBadMessages, float64(st.BadMessages))
	counter(descConnsRefused, float64(st.ConnsRefused))
	gauge(descSyncing, b2f(st.Syncing))
	var copyBytes int64
	if st.Copy != nil {
		copyBytes = st.Copy.Bytes
	}
	gauge(descCopyBytes, float64(copyBytes))
	connected := 0
	for _, p := range st.Peers {
		if p.Connected {
			connected++
		}
	}
	gauge(descPeersConn, float64(connected))
	for _, row := range networkRows(st, time.Time{}, nil) {
		if row.Lag >= 0 {
			gauge(descPeerLag, float64(row.Lag), row.Console)
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
