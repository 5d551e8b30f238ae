// The web front panel: draws the view the console sends on /events. It only
// reads; every text from the network is set as text, never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
let view = null;
let offset = 0; // console clock minus this browser's, in ms

// What each LED state means, in a technician's words.
const meaning = {
  active: { on: "this console serves the show", blink: "", off: "" },
  backup: { on: "following the active", blink: "", off: "" },
  sync: { on: "", blink: "copying the show", off: "" },
  link: { on: "cable in", blink: "", off: "no network cable" },
  fault: { on: "cannot work: see the log", blink: "needs attention: see Faults", off: "" },
};

function text(el, s) { el.textContent = s == null ? "" : String(s); }

function el(tag, cls, s) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (s != null) text(e, s);
  return e;
}

function clock(t) {
  const d = new Date(t);
  if (isNaN(d) || d.getFullYear() < 2000) return "";
  return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
}

function ago(t) {
  const d = new Date(t);
  if (isNaN(d) || d.getFullYear() < 2000) return "never";
  const s = Math.max(0, Math.round((Date.now() + offset - d.getTime()) / 1000));
  if (s < 60) return s + " s ago";
  if (s < 3600) return Math.round(s / 60) + " min ago";
  return clock(t);
}

function size(n) {
  if (n >= 1 << 30) return (n / (1 << 30)).toFixed(1) + " GiB";
  if (n >= 1 << 20) return (n / (1 << 20)).toFixed(1) + " MiB";
  if (n >= 1 << 10) return Math.round(n / (1 << 10)) + " KiB";
  return n + " B";
}

function duration(s) {
  if (s < 60) return Math.ceil(s) + " s";
  return Math.floor(s / 60) + " min " + Math.round(s % 60) + " s";
}

// The LEDs blink on the board's rhythm: lit while floor((t-epoch)/half) is
// odd, t on the console's clock.
function drawLEDs() {
  if (!view) return;
  const now = Date.now() + offset;
  const b = view.blink;
  const phase = b.half_ms > 0 && Math.floor((now - b.epoch_ms) / b.half_ms) % 2 === 1;
  for (const led of document.querySelectorAll(".led")) {
    const st = led.dataset.state;
    led.classList.toggle("lit", st === "on" || (st === "blink" && phase));
  }
}

function drawPanel(v) {
  for (const led of document.querySelectorAll(".led")) {
    const name = led.dataset.led;
    const st = (v.status.leds && v.status.leds[name]) || "off";
    led.dataset.state = st;
    text(led.querySelector(".why"), (meaning[name] && meaning[name][st]) || st);
  }
  drawLEDs();
}

function drawCopy(c) {
  $("copy").hidden = !c;
  if (!c) return;
  const bar = $("copy-bar");
  const known = c.percent >= 0;
  bar.classList.toggle("unknown", !known);
  $("copy-fill").style.width = known ? c.percent.toFixed(1) + "%" : "";
  if (known) bar.setAttribute("aria-valuenow", c.percent.toFixed(1));
  else bar.removeAttribute("aria-valuenow");
  const parts = [];
  parts.push(known ? size(c.bytes) + " of " + size(c.total) : size(c.bytes) + " received (total not known)");
  if (c.rate > 0) parts.push(size(c.rate) + "/s");
  if (c.left_s >= 0) parts.push(duration(c.left_s) + " left");
  if (c.from) parts.push("from " + c.from);
  text($("copy-text"), parts.join(" · "));
}

const roleWords = { active: "active server", backup: "backup", syncing: "joining (copying)", off: "logged off" };

function drawNetwork(rows) {
  const body = $("network").querySelector("tbody");
  body.replaceChildren();
  for (const r of rows) {
    const tr = el("tr");
    tr.dataset.console = r.console;
    tr.dataset.role = r.role;
    tr.dataset.connected = r.connected;
    if (r.self) tr.classList.add("self");
    if (r.active) tr.classList.add("active");
    if (!r.connected) tr.classList.add("gone");
    tr.append(
      el("td", "", r.console),
      el("td", "", r.active ? "ACTIVE" : roleWords[r.role] || r.role),
      el("td", "", r.show || "—"),
      el("td", "", r.role === "off" ? "—" : r.seq),
      el("td", r.lag > 0 ? "bad" : "", r.lag < 0 ? "—" : r.lag === 0 ? "up to date" : r.lag + " edits"),
      el("td", r.connected ? "" : "bad", r.self ? "—" : r.connected ? "yes" : "no"),
      el("td", r.link === "down" ? "bad" : "", r.link || "—"),
      el("td", "", r.self || r.connected ? "now" : ago(r.last_heard)),
    );
    body.append(tr);
  }
}

function drawFaults(list) {
  const table = $("faults");
  const body = table.querySelector("tbody");
  body.replaceChildren();
  table.hidden = list.length === 0;
  $("no-faults").hidden = list.length > 0;
  for (const f of list) {
    const tr = el("tr", f.current ? "" : "gone");
    tr.dataset.kind = f.kind;
    let what = f.message;
    if (f.places > 1) what += " (" + f.places + " places)";
    tr.append(
      el("td", f.current ? "bad" : "", what),
      el("td", "", clock(f.first)),
      el("td", "", clock(f.last)),
      el("td", "", "×" + f.times),
      el("td", "", f.current ? (f.level === "steady" ? "yes (steady)" : "yes") : "cleared"),
    );
    body.append(tr);
  }
}

function drawTimeline(events) {
  const ol = $("timeline");
  ol.replaceChildren();
  $("no-events").hidden = events.length > 0;
  for (const e of events) {
    const li = el("li", e.kind);
    const t = el("time", "", clock(e.time));
    t.dateTime = e.time;
    li.append(t, document.createTextNode(e.text));
    if (e.detail) {
      const d = el("details");
      d.append(el("summary", "", "details"), document.createTextNode(e.detail));
      li.append(" ", d);
    }
    ol.append(li);
  }
}

function drawFacts(st) {
  const facts = [
    ["Show ID", st.show_id], ["Epoch", st.epoch],
    ["Epochs", (st.epochs || []).map((e) => e.id + " from seq " + e.first_seq).join(", ")],
    ["Seq", st.seq], ["Acknowledge mode", st.ack], ["Fence", st.fence],
    ["Hand-over", st.hand_over ? "waiting for " + (st.hand_over.waiting || []).join(", ") + " to hold seq " + st.hand_over.seq : ""],
    ["Peer address", st.listen], ["Network key", st.network_key], ["Board", st.board],
    ["Master console", st.master ? "yes" : "no"], ["Stale copy", st.stale ? "yes" : "no"],
    ["Full copies sent", st.full_syncs], ["Catch-ups", st.catch_ups], ["Adoptions", st.adoptions],
    ["Refused (wrong key)", st.auth_refused], ["Bad peer messages", st.bad_messages],
    ["Edits acknowledged here", st.edits_acknowledged],
    ["Remote control", st.remote_control],
    ["Resume at start", st.resume ? (st.resume.show ? st.resume.show + ": " : "") + st.resume.outcome : ""],
  ];
  const dl = $("facts");
  dl.replaceChildren();
  for (const [k, v] of facts) {
    if (v === "" || v == null) continue;
    dl.append(el("dt", "", k), el("dd", "", v));
  }
}

function draw(v) {
  view = v;
  document.title = v.console + " — consoled";
  text($("console"), v.console);
  text($("headline"), v.headline);
  drawPanel(v);
  drawCopy(v.copy);
  drawNetwork(v.network || []);
  drawFaults(v.faults || []);
  drawTimeline(v.timeline || []);
  drawFacts(v.status);
}

function connect() {
  const es = new EventSource("events");
  es.onmessage = (m) => {
    const msg = JSON.parse(m.data);
    offset = msg.now_ms - Date.now();
    $("offline").hidden = true;
    draw(msg.view);
  };
  es.onerror = () => { $("offline").hidden = false; };
}

$("digest-btn").addEventListener("click", async () => {
  text($("digest"), "working it out…");
  try {
    const r = await fetch("digest.json");
    const d = await r.json();
    text($("digest"), r.ok ? d.show + " at seq " + d.seq + ": " + d.digest : d.error);
  } catch (e) {
    text($("digest"), "the console did not answer");
  }
});

setInterval(drawLEDs, 50);
// The ages in the table move on between messages.
setInterval(() => { if (view) drawNetwork(view.network || []); }, 1000);
connect();
