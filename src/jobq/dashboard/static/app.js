// jobq dashboard: three views over the JSON API (overview, jobs, one job), refreshed every
// 2 seconds. Every value from the API goes into the page as text, never as HTML.
"use strict";

const STATES = ["pending", "running", "succeeded", "failed", "dead", "cancelled"];
const REFRESH_MS = 2000;
let timer = null;
let renderSeq = 0;

// -- helpers ------------------------------------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "text") node.textContent = String(value);
    else if (key === "style") Object.assign(node.style, value);  // CSSOM: allowed by the CSP
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function svg(tag, attrs = {}) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  return node;
}

async function api(path, options = {}) {
  const response = await fetch(path, {
    ...options,
    headers: { Accept: "application/json", ...(options.body ? { "Content-Type": "application/json" } : {}) },
  });
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const message = body && body.error ? body.error.message : response.statusText;
    throw new Error(`${response.status}: ${message}`);
  }
  return body;
}

function toast(message) {
  const box = document.getElementById("toast");
  box.textContent = message;
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { box.hidden = true; }, 4000);
}

function status(state) {
  return el("span", { class: `status ${state}`, text: state });
}

function when(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  return date.toLocaleString(undefined, { hour12: false });
}

function age(seconds) {
  if (seconds === null || seconds === undefined) return "none waiting";
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  if (seconds < 3600) return `${(seconds / 60).toFixed(1)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

function json(value) {
  return el("pre", { class: "mono", text: JSON.stringify(value, null, 2) });
}

function setLive(ok) {
  document.getElementById("live").classList.toggle("stale", !ok);
}

// -- overview -----------------------------------------------------------------------------

async function overview(view) {
  const stats = await api("/stats");
  const cards = el("div", { class: "cards" },
    STATES.map((state) => el("div", { class: "card" },
      el("div", { class: "n", id: `total-${state}`, text: stats.totals[state] ?? 0 }),
      el("div", { class: "label" }, el("a", { href: `#/jobs?status=${state}`, text: state })))));

  const queues = Object.keys(stats.counts).sort();
  const byQueue = el("table", { id: "by-queue" },
    el("thead", {}, el("tr", {}, el("th", { text: "queue" }),
      STATES.map((s) => el("th", { class: "num", text: s })))),
    el("tbody", {}, queues.length === 0
      ? el("tr", {}, el("td", { colspan: 7, class: "muted", text: "no jobs yet" }))
      : queues.map((queue) => el("tr", {},
        el("td", {}, el("a", { href: `#/jobs?queue=${encodeURIComponent(queue)}`, text: queue })),
        STATES.map((s) => el("td", { class: "num", text: stats.counts[queue][s] }))))));

  const processes = el("table", { id: "processes" },
    el("thead", {}, el("tr", {}, ["process", "host", "pid", "busy", "buffered", "queues", "last seen"]
      .map((h) => el("th", { text: h })))),
    el("tbody", {}, stats.processes.length === 0
      ? el("tr", {}, el("td", { colspan: 7, class: "muted", text: "no worker pool is running" }))
      : stats.processes.map((p) => el("tr", {},
        el("td", { class: "mono", text: p.id }), el("td", { text: p.host }),
        el("td", { class: "num", text: p.pid }),
        el("td", {}, el("span", { class: "bar" }, el("span", { style: { width: `${(100 * p.busy) / Math.max(1, p.workers)}%` } })),
          ` ${p.busy} / ${p.workers}`),
        el("td", { class: "num", text: p.buffered }),
        el("td", { text: p.queues ? p.queues.join(", ") : "all" }),
        el("td", { text: when(p.seen_at) })))));

  view.replaceChildren(
    el("h1", { text: "Overview" }),
    cards,
    el("h2", { text: "Attempts per minute, last hour" }),
    chart(stats.throughput),
    el("div", { class: "legend" },
      el("span", {}, el("i", { style: { background: "var(--ok)" } }), "succeeded"),
      el("span", {}, el("i", { style: { background: "var(--bad)" } }), "failed or lost")),
    el("h2", { text: "Oldest waiting job" }),
    el("p", { id: "oldest-waiting", text: age(stats.oldest_waiting_seconds) }),
    el("h2", { text: "Queues" }), byQueue,
    el("h2", { text: "Worker processes" }), processes);
}

function chart(minutes) {
  const width = 720, height = 160, pad = 20;
  const box = svg("svg", { class: "chart", viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "attempts per minute" });
  const now = Math.floor(Date.now() / 60000);
  const slots = new Array(60).fill(null).map(() => ({ ok: 0, bad: 0 }));
  for (const row of minutes) {
    const index = 59 - (now - Math.floor(new Date(row.minute).getTime() / 60000));
    if (index < 0 || index > 59) continue;
    slots[index].ok += row.succeeded;
    slots[index].bad += row.failed + row.lost;
  }
  const peak = Math.max(1, ...slots.map((s) => s.ok + s.bad));
  const step = (width - 2 * pad) / 60;
  slots.forEach((slot, i) => {
    const x = pad + i * step;
    const okHeight = ((height - 2 * pad) * slot.ok) / peak;
    const badHeight = ((height - 2 * pad) * slot.bad) / peak;
    const bottom = height - pad;
    if (slot.ok) box.append(svg("rect", { x, y: bottom - okHeight, width: step - 2, height: okHeight, fill: "#2b8a3e" }));
    if (slot.bad) box.append(svg("rect", { x, y: bottom - okHeight - badHeight, width: step - 2, height: badHeight, fill: "#c92a2a" }));
  });
  const label = svg("text", { x: pad, y: 14, fill: "#667085", "font-size": 11 });
  label.textContent = `peak ${peak}/min`;
  box.append(label);
  return box;
}

// -- jobs list ----------------------------------------------------------------------------

async function jobs(view, params) {
  const query = new URLSearchParams();
  for (const key of ["status", "queue", "type", "cursor"]) if (params.get(key)) query.set(key, params.get(key));
  query.set("limit", "50");
  const page = await api(`/jobs?${query}`);

  const form = el("form", { class: "filters", id: "filters", onsubmit: (event) => {
    event.preventDefault();
    const next = new URLSearchParams();
    for (const key of ["status", "queue", "type"]) {
      const value = form.elements[key].value.trim();
      if (value) next.set(key, value);
    }
    location.hash = `#/jobs?${next}`;
  } },
    el("select", { name: "status", "aria-label": "status" },
      el("option", { value: "", text: "any status" }),
      STATES.map((s) => el("option", { value: s, text: s, selected: params.get("status") === s }))),
    el("input", { name: "queue", placeholder: "queue", value: params.get("queue") || "" }),
    el("input", { name: "type", placeholder: "type", value: params.get("type") || "" }),
    el("button", { type: "submit", text: "Filter" }));

  const rows = page.jobs.map((job) => el("tr", { "data-id": job.id },
    el("td", {}, el("a", { class: "job-link mono", href: `#/jobs/${job.id}`, text: job.id })),
    el("td", { text: job.type }), el("td", { text: job.queue }), el("td", {}, status(job.status)),
    el("td", { class: "num", text: `${job.attempt}/${job.max_attempts}` }),
    el("td", { text: when(job.created_at) }),
    el("td", { class: "muted", text: job.last_error ? `${job.last_error.type}: ${job.last_error.message}` : "" })));
  const table = el("table", { id: "jobs" },
    el("thead", {}, el("tr", {}, ["id", "type", "queue", "status", "attempt", "created", "last error"].map((h) => el("th", { text: h })))),
    el("tbody", {}, rows.length ? rows : el("tr", {}, el("td", { colspan: 7, class: "muted", text: "no jobs match" }))));

  const more = page.next_cursor
    ? el("p", {}, el("a", { id: "older", href: `#/jobs?${withParam(params, "cursor", page.next_cursor)}`, text: "Older →" }))
    : null;
  const active = document.activeElement;
  const typing = active && active.form && active.form.id === "filters" && view.contains(active);
  if (typing) {  // someone is choosing a filter: refresh the table only
    const old = document.getElementById("jobs");
    if (old) old.replaceWith(table);
    return;
  }
  view.replaceChildren(el("h1", { text: "Jobs" }), form, table, more);
}

function withParam(params, key, value) {
  const next = new URLSearchParams(params);
  next.set(key, value);
  return next.toString();
}

// -- one job ------------------------------------------------------------------------------

async function jobPage(view, id) {
  const job = await api(`/jobs/${encodeURIComponent(id)}`);
  const actions = el("div", { class: "actions" });
  if (job.status === "pending" || job.status === "failed") {
    actions.append(el("button", { id: "cancel", class: "danger", text: "Cancel", onclick: () => act(`/jobs/${job.id}/cancel`, "cancelled") }));
  }
  if (job.status === "dead" || job.status === "cancelled") {
    actions.append(el("button", { id: "retry", class: "primary", text: "Retry", onclick: () => act(`/jobs/${job.id}/retry`, "retried") }));
  }
  if (job.status === "dead") {
    actions.append(el("button", { id: "retry-all-dead", text: `Retry all dead ${job.type}`, onclick: async () => {
      if (!confirm(`Retry every dead job of type ${job.type}?`)) return;
      try {
        const done = await api("/jobs/retry-dead", { method: "POST", body: JSON.stringify({ type: job.type }) });
        toast(`${done.retried} dead ${job.type} jobs retried`);
        render();
      } catch (error) { toast(error.message); }
    } }));
  }

  const progress = job.progress === null ? "—" : el("span", {},
    el("span", { class: "bar" }, el("span", { style: { width: `${Math.round(job.progress * 100)}%` } })),
    ` ${Math.round(job.progress * 100)}% ${job.progress_message || ""}`);
  const facts = el("dl", {}, [
    ["Status", el("span", { id: "job-status" }, status(job.status))],
    ["Type", job.type], ["Queue", job.queue], ["Priority", job.priority],
    ["Attempt", `${job.attempt} of ${job.max_attempts}`],
    ["Progress", progress],
    ["Worker", job.worker_id || "—"], ["Due", when(job.run_at)],
    ["Dead reason", job.dead_reason || "—"], ["Idempotency key", job.idempotency_key || "—"],
  ].flatMap(([term, detail]) => [el("dt", { text: term }), el("dd", {}, detail)]));

  const timeline = el("ol", { class: "timeline", id: "timeline" },
    el("li", {}, `${when(job.created_at)} — enqueued`),
    job.attempts.map((a) => el("li", {},
      `${when(a.started_at)} — attempt ${a.attempt} started on ${a.worker_id || "?"}`,
      a.finished_at ? el("div", { class: "muted", text: `${when(a.finished_at)} — ${a.outcome}` }) : null)),
    job.finished_at ? el("li", {}, `${when(job.finished_at)} — ${job.status}`) : null);

  const attempts = el("table", { id: "attempts" },
    el("thead", {}, el("tr", {}, ["#", "worker", "started", "finished", "outcome", "error"].map((h) => el("th", { text: h })))),
    el("tbody", {}, job.attempts.map((a) => el("tr", {},
      el("td", { class: "num", text: a.attempt }), el("td", { class: "mono", text: a.worker_id || "" }),
      el("td", { text: when(a.started_at) }), el("td", { text: when(a.finished_at) }),
      el("td", {}, a.outcome ? status(a.outcome) : status("running")),
      el("td", {}, a.error ? el("div", {}, el("div", { class: "error", text: `${a.error.type}: ${a.error.message}` }),
        a.traceback ? el("details", {}, el("summary", { text: "traceback" }), el("pre", { class: "traceback mono", text: a.traceback })) : null) : "")))));

  const open = [...view.querySelectorAll("details[open]")].map((d) => d.closest("tr")?.rowIndex);
  view.replaceChildren(
    el("h1", {}, "Job ", el("span", { class: "mono", text: job.id })),
    actions,
    el("div", { class: "grid2" },
      el("div", {}, el("h2", { text: "Details" }), facts, el("h2", { text: "Timeline" }), timeline),
      el("div", {}, el("h2", { text: "Payload" }), json(job.payload),
        el("h2", { text: "Result" }), job.result === null ? el("p", { class: "muted", text: "none" }) : json(job.result))),
    el("h2", { text: "Attempts" }), attempts);
  for (const index of open) {  // keep tracebacks the reader opened open across refreshes
    const row = attempts.rows[index];
    if (row) row.querySelector("details")?.setAttribute("open", "");
  }
}

async function act(path, done) {
  try {
    await api(path, { method: "POST" });
    toast(`job ${done}`);
  } catch (error) {
    toast(error.message);
  }
  render();
}

// -- routing ------------------------------------------------------------------------------

async function render() {
  const seq = ++renderSeq;
  const view = document.getElementById("view");
  const hash = location.hash.replace(/^#/, "") || "/";
  const [path, search] = hash.split("?");
  const params = new URLSearchParams(search || "");
  for (const link of document.querySelectorAll("[data-nav]")) {
    link.classList.toggle("active", path === "/" ? link.dataset.nav === "overview" : link.dataset.nav === "jobs");
  }
  // Each view fetches first and replaces the page only when its data is in: a slow or
  // failed refresh leaves the last good picture on screen (the dot in the header turns red).
  try {
    if (path === "/" || path === "") await overview(view);
    else if (path === "/jobs") await jobs(view, params);
    else if (path.startsWith("/jobs/")) await jobPage(view, decodeURIComponent(path.slice(6)));
    else view.replaceChildren(el("p", { text: "Nothing here." }));
    if (seq !== renderSeq) return;
    setLive(true);
  } catch (error) {
    if (seq !== renderSeq) return;
    setLive(false);
    const first = view.querySelector("h1");
    if (!first || error.message.startsWith("404")) {
      view.replaceChildren(el("p", { class: "muted", id: "error", text: error.message }));
    }
  }
  clearTimeout(timer);
  timer = setTimeout(render, REFRESH_MS);
}

window.addEventListener("hashchange", render);
document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("search").addEventListener("submit", (event) => {
    event.preventDefault();
    const id = document.getElementById("search-id").value.trim();
    if (id) location.hash = `#/jobs/${encodeURIComponent(id)}`;
  });
  render();
});
