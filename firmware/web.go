package firmware

import (
	"fmt"
	"html/template"
	"net/http"

	"consoled/api"
	"consoled/hal"
)

// webUI is the status page, its JSON and the metrics, on --http. It only
// reads: changing the show goes through the control socket, which is
// protected by file permissions, not through a TCP port.
func (s *Service) webUI() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		st := s.status()
		type led struct{ Name, State string }
		var leds []led
		for _, n := range hal.LEDNames {
			leds = append(leds, led{n, st.LEDs[n]})
		}
		statusPage.Execute(w, struct {
			S    api.Status
			LEDs []led
		}{st, leds})
	})
	mux.HandleFunc("GET /status.json", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, s.status())
	})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		st := s.status()
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprintf(w, "# HELP consoled_seq Last sequence number of the live show copy.\n# TYPE consoled_seq gauge\nconsoled_seq %d\n", st.Seq)
		fmt.Fprintf(w, "# HELP consoled_edits_acknowledged_total Edits acknowledged through this console.\n# TYPE consoled_edits_acknowledged_total counter\nconsoled_edits_acknowledged_total %d\n", st.Acked)
		fmt.Fprintf(w, "# HELP consoled_role 1 for the console's current role.\n# TYPE consoled_role gauge\n")
		for _, r := range []string{"off", "active", "backup", "syncing"} {
			v := 0
			if st.Role == r {
				v = 1
			}
			fmt.Fprintf(w, "consoled_role{role=%q} %d\n", r, v)
		}
		up := 0
		if st.Link == "up" {
			up = 1
		}
		fmt.Fprintf(w, "# HELP consoled_link_up NIC carrier.\n# TYPE consoled_link_up gauge\nconsoled_link_up %d\n", up)
		fmt.Fprintf(w, "# HELP consoled_faults Current faults.\n# TYPE consoled_faults gauge\nconsoled_faults %d\n", len(st.Faults))
		fmt.Fprintf(w, "# HELP consoled_open_fds Open file descriptors.\n# TYPE consoled_open_fds gauge\nconsoled_open_fds %d\n", st.Descriptors.Open)
		fmt.Fprintf(w, "# HELP consoled_max_fds The limit on open file descriptors.\n# TYPE consoled_max_fds gauge\nconsoled_max_fds %d\n", st.Descriptors.Limit)
	})
	return mux
}

var statusPage = template.Must(template.New("status").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><meta http-equiv="refresh" content="1">
<title>consoled {{.S.Console}}</title>
<style>
body{font-family:sans-serif;background:#111;color:#ddd;margin:2em}
.panel{display:flex;gap:1.5em;margin:1em 0}
.led{text-align:center;font-size:.8em;text-transform:uppercase}
.led i{display:block;width:1.6em;height:1.6em;border-radius:50%;margin:0 auto .4em;background:#333}
.on i{background:#3c3}.fault.on i,.fault.blink i{background:#e33}
.blink i{background:#3c3;animation:b .5s steps(1) infinite}
@keyframes b{50%{background:#333}}
td{padding:.15em 1em .15em 0}
</style></head><body>
<h1>{{.S.Console}}</h1>
<div class="panel">{{range .LEDs}}<div class="led {{.Name}} {{.State}}"><i></i>{{.Name}}</div>{{end}}</div>
<table>
<tr><td>role</td><td>{{.S.Role}}</td></tr>
<tr><td>show</td><td>{{.S.Show}}</td></tr>
<tr><td>seq</td><td>{{.S.Seq}}</td></tr>
<tr><td>epoch</td><td>{{.S.Epoch}}</td></tr>
<tr><td>link</td><td>{{.S.Link}}</td></tr>
<tr><td>board</td><td>{{.S.Board}}</td></tr>
<tr><td>remote control</td><td>{{.S.RemoteControl}}</td></tr>
{{with .S.Resume}}<tr><td>resume</td><td>{{if .Show}}{{.Show}}: {{end}}{{.Outcome}}</td></tr>{{end}}
{{range .S.Faults}}<tr><td>fault</td><td>{{.Kind}}: {{.Message}}</td></tr>{{end}}
</table>
</body></html>
`))
