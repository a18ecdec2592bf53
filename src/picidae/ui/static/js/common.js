// Shared by every page: boot data, DOM building, API calls, formatting, theme, live events.

export const boot = JSON.parse(document.getElementById("picidae-boot").textContent);

export const STATES = ["queued", "provisioning", "syncing_data", "running", "evaluating",
  "completed", "failed", "canceled", "lost", "archived"];
export const TERMINAL = new Set(["completed", "failed", "canceled", "archived"]);

// ---- DOM --------------------------------------------------------------------------------

/** h("a", {href, class: "x", onclick}, child, "text", [more]) → an element. */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "style" && typeof value === "object") Object.assign(el.style, value);
    else if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export function badge(status) {
  return h("span", {class: `badge ${status}`, title: `status: ${status}`}, status);
}

export function runLink(run, label) {
  return h("a", {href: `/runs/${encodeURIComponent(run.id)}`}, label ?? run.name);
}

export function emptyState(title, body, snippet) {
  return h("div", {class: "empty"}, h("h2", {}, title), body ? h("p", {}, body) : null,
    snippet ? h("pre", {class: "snippet"}, h("code", {}, snippet)) : null);
}

export const INIT_SNIPPET = `import picidae

with picidae.init("my-project/first-run", config={"lr": 0.01}) as run:
    for step in range(100):
        run.log(loss=1 / (step + 1))`;

export function toast(text, ms = 2500) {
  const el = h("div", {class: "toast", role: "status"}, text);
  document.body.append(el);
  setTimeout(() => el.remove(), ms);
}

// ---- API --------------------------------------------------------------------------------

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.code = body && body.code;
    this.field = body && body.field;
  }
}

function token() {
  try { return localStorage.getItem("picidae.token"); } catch (e) { return null; }
}

function authHeaders() {
  // NaN and infinities as null (a gap in a chart, "—" in a table), not as strings
  const t = token();
  const headers = {"X-Picidae-Nonfinite": "null"};
  if (t) headers.Authorization = `Bearer ${t}`;
  return headers;
}

/** GET (or other) a JSON API path; throws ApiError with the server's {code, message, field}. */
export async function api(path, options = {}) {
  const res = await fetch(path, {...options, headers: {...authHeaders(), ...(options.headers || {})}});
  let body = null;
  try { body = await res.json(); } catch (e) { body = null; }
  if (res.status === 401) askToken();
  if (!res.ok) throw new ApiError(res.status, body);
  return body;
}

export function query(params) {
  const q = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === null || value === undefined || value === "") continue;
    if (Array.isArray(value)) value.forEach((v) => q.append(key, v));
    else q.set(key, String(value));
  }
  const text = q.toString();
  return text ? `?${text}` : "";
}

function askToken() {
  const dialog = document.getElementById("token-dialog");
  if (!dialog || !dialog.hidden) return;
  const input = h("input", {type: "text", name: "token", autocomplete: "off",
    "aria-label": "Token", placeholder: "TOKEN"});
  clear(dialog, h("form", {onsubmit: (e) => {
    e.preventDefault();
    try { localStorage.setItem("picidae.token", input.value.trim()); } catch (err) { /* ignore */ }
    location.reload();
  }}, h("h2", {}, "This server needs a token"),
  h("p", {class: "muted"}, "Paste a token from the server's token file (kept in this browser)."),
  input, h("button", {class: "primary", type: "submit"}, "Use token")));
  dialog.hidden = false;
  input.focus();
}

// ---- Formatting -------------------------------------------------------------------------

export function fmtNum(v) {
  if (v === null || v === undefined) return "—";
  if (typeof v !== "number") return String(v);
  if (Number.isNaN(v)) return "NaN";
  if (!Number.isFinite(v)) return v > 0 ? "∞" : "−∞";
  if (Number.isInteger(v) && Math.abs(v) < 1e15) return v.toLocaleString("en-US");
  const a = Math.abs(v);
  const short = Number(v.toPrecision(4));
  if (a !== 0 && (a >= 1e6 || a < 1e-3)) return short.toExponential();
  return String(short);
}

/** "mean ± std": the mean to four significant digits, its spread to two. */
export function fmtMeanStd(s) {
  const std = Number.isFinite(s.std) ? String(Number(s.std.toPrecision(2))) : fmtNum(s.std);
  return `${fmtNum(s.mean)} ± ${std}`;
}

export function fmtValue(v) {
  if (v === null || v === undefined) return "—";
  if (typeof v === "number") return fmtNum(v);
  if (typeof v === "boolean") return v ? "true" : "false";
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

export function fmtDuration(s) {
  if (s === null || s === undefined) return "—";
  if (s < 1) return `${Math.round(s * 1000)} ms`;
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} m ${Math.floor(s % 60)} s`;
  const hr = Math.floor(m / 60);
  if (hr < 48) return `${hr} h ${m % 60} m`;
  return `${Math.floor(hr / 24)} d ${hr % 24} h`;
}

const pad = (n) => String(n).padStart(2, "0");

/**
 * A time as epoch seconds: the API sends run-level times (created_at, started_at, ended_at,
 * last_heartbeat_at, a transition's at) as ISO 8601 UTC strings, point and log times as
 * epoch seconds. Null stays null.
 */
export function epochOf(t) {
  if (t === null || t === undefined || t === "") return null;
  if (typeof t === "number") return t;
  const m = /^(.*T\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)?$/.exec(t);
  if (!m) return Date.parse(t) / 1000;
  return Date.parse(m[1] + (m[3] || "Z")) / 1000 + (m[2] ? parseFloat(`0${m[2]}`) : 0);
}

export function fmtTime(t) {
  t = epochOf(t);
  if (t === null) return "—";
  const d = new Date(t * 1000);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function fmtAgo(t) {
  t = epochOf(t);
  if (t === null) return "—";
  const s = Date.now() / 1000 - t;
  if (s < 45) return "just now";
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  if (s < 86400 * 30) return `${Math.round(s / 86400)} d ago`;
  return fmtTime(t).slice(0, 10);
}

export function timeEl(t) {
  t = epochOf(t);
  return h("time", {datetime: t ? new Date(t * 1000).toISOString() : null, title: fmtTime(t)},
    fmtAgo(t));
}

/**
 * What a parent without a primary value of its own shows for it, from its children's
 * aggregates (children_stats): seeds (replicates) their mean ± std, other children (sweep
 * points, phases) the best value by the metric's mode. Null when no child has it.
 */
export function parentPrimary(pm, agg) {
  const s = agg && agg.stats && pm && pm.name ? agg.stats[pm.name] : null;
  if (!s) return null;
  const kinds = Object.keys(agg.kinds || {});
  if (kinds.length === 1 && kinds[0] === "seed" && s.n > 1) {
    return {text: fmtMeanStd(s), title: `${pm.name}: mean ± std across ${s.n} seeds`, stats: s};
  }
  const best = agg.best ? agg.best.value : (pm.mode === "min" ? s.min : s.max);
  return {text: fmtNum(best), value: best,
    title: `${pm.name} (${pm.mode || "max"}): the best of ${s.n} ${s.n === 1 ? "child" : "children"}` +
      (agg.best ? `, ${agg.best.name}` : "")};
}

export function primaryText(run) {
  const pm = run.primary_metric;
  if (!pm || !pm.name) return null;
  return {name: pm.name, mode: pm.mode, best: pm.best, step: pm.step};
}

/** Flatten nested objects to dotted keys, like the server's flattening. */
export function flatten(obj, prefix = "", out = {}) {
  for (const [key, value] of Object.entries(obj || {})) {
    const name = prefix ? `${prefix}.${key}` : key;
    if (value && typeof value === "object" && !Array.isArray(value) && Object.keys(value).length) {
      flatten(value, name, out);
    } else {
      out[name] = value;
    }
  }
  return out;
}

/** A value of a column path ("config.lr", "metrics.loss", "summary.x") from a run record. */
export function columnValue(run, path) {
  const dot = path.indexOf(".");
  const section = path.slice(0, dot);
  const key = path.slice(dot + 1);
  if (section === "metrics") return (run.metrics || {})[key];
  if (section === "config" || section === "summary") return flatten(run[section])[key];
  return run[path];
}

// ---- Theme and page chrome ------------------------------------------------------------

function applyThemeButton() {
  const button = document.getElementById("theme-toggle");
  const dark = document.documentElement.dataset.theme === "dark";
  button.textContent = dark ? "☀" : "☾";
  button.setAttribute("aria-label", dark ? "Switch to light theme" : "Switch to dark theme");
}

export function setTheme(theme, persist = true) {
  document.documentElement.dataset.theme = theme;
  if (persist) {
    try { localStorage.setItem("picidae.theme", theme); } catch (e) { /* ignore */ }
  }
  applyThemeButton();
  window.dispatchEvent(new CustomEvent("picidae:theme"));
}

export function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

function setupChrome() {
  applyThemeButton();
  document.getElementById("theme-toggle").addEventListener("click", () => {
    setTheme(document.documentElement.dataset.theme === "dark" ? "light" : "dark");
  });
  matchMedia("(prefers-color-scheme: dark)").addEventListener("change", (e) => {
    let saved = null;
    try { saved = localStorage.getItem("picidae.theme"); } catch (err) { /* ignore */ }
    if (!saved) setTheme(e.matches ? "dark" : "light", false);
  });
  const current = boot.page === "run" ? "runs" : boot.page;
  const link = document.querySelector(`.topbar nav a[data-nav="${current}"]`);
  if (link) link.setAttribute("aria-current", "page");
}

setupChrome();

// ---- Live events ------------------------------------------------------------------------

function setLive(on) {
  const el = document.getElementById("live");
  el.hidden = false;
  el.classList.toggle("off", !on);
  el.lastChild.textContent = on ? "live" : "reconnecting";
  el.title = on ? "Live: updates appear as they happen" : "Reconnecting to the events stream";
}

/** Call handler(event) for every server event (optionally one run's), from now on. */
export function subscribe(handler, {runId} = {}) {
  const base = `/api/v1/events${query({run_id: runId})}`;
  const types = ["run.created", "run.transition", "run.summary", "run.artifact", "run.deleted"];
  if (!token()) {
    const source = new EventSource(base);
    source.onopen = () => setLive(true);
    source.onerror = () => setLive(false);
    const listener = (e) => {
      try { handler(JSON.parse(e.data)); } catch (err) { console.warn("bad event", err); }
    };
    for (const type of types) source.addEventListener(type, listener);
    window.addEventListener("pagehide", () => source.close());
    return () => source.close();
  }
  // EventSource cannot send a token: read the stream with fetch instead.
  let closed = false;
  let last = null;
  const controller = new AbortController();
  (async () => {
    while (!closed) {
      try {
        const sep = base.includes("?") ? "&" : "?";
        const res = await fetch(last === null ? base : `${base}${sep}since=${last}`,
          {headers: authHeaders(), signal: controller.signal});
        if (!res.ok) throw new Error(`events: HTTP ${res.status}`);
        setLive(true);
        const reader = res.body.getReader();
        const decoder = new TextDecoder();
        let buffer = "";
        for (;;) {
          const {value, done} = await reader.read();
          if (done) break;
          buffer += decoder.decode(value, {stream: true});
          let cut;
          while ((cut = buffer.indexOf("\n\n")) >= 0) {
            const frame = buffer.slice(0, cut);
            buffer = buffer.slice(cut + 2);
            const data = frame.split("\n").filter((l) => l.startsWith("data:"))
              .map((l) => l.slice(5).trim()).join("\n");
            if (data) {
              const event = JSON.parse(data);
              last = event.id;
              handler(event);
            }
          }
        }
      } catch (err) {
        if (closed) return;
      }
      setLive(false);
      await new Promise((r) => setTimeout(r, 1500));
    }
  })();
  const stop = () => { closed = true; controller.abort(); };
  window.addEventListener("pagehide", stop);
  return stop;
}

/** Run fn at most once per `ms`, trailing. */
export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

/** Run fn at most once per `ms`; calls in between are folded into one trailing call. */
export function throttle(fn, ms) {
  let last = 0;
  let timer = null;
  return (...args) => {
    if (timer) return;
    const wait = Math.max(0, last + ms - Date.now());
    timer = setTimeout(() => {
      timer = null;
      last = Date.now();
      fn(...args);
    }, wait);
  };
}

export function download(filename, blob) {
  const url = URL.createObjectURL(blob);
  const a = h("a", {href: url, download: filename});
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

// ---- Grouping (group_by=FIELD) ----------------------------------------------------------

/** The group_by field in this page's URL ("" when none). */
export function groupByParam() {
  return (new URL(location.href).searchParams.get("group_by") || "").trim();
}

/** Set (or drop) group_by in the URL without reloading. */
export function setGroupByParam(field) {
  const url = new URL(location.href);
  if (field) url.searchParams.set("group_by", field);
  else url.searchParams.delete("group_by");
  history.replaceState(null, "", url.pathname + url.search);
}

/**
 * A run's group under `field`: config.KEY / summary.KEY (the value), tags (its tags, sorted
 * and joined), kind, or any run field. Runs without one fall in "(none)".
 */
export function groupOf(run, field) {
  let value;
  if (field === "tags") value = [...(run.tags || [])].sort().join(", ");
  else if (field.startsWith("config.") || field.startsWith("summary.")) value = columnValue(run, field);
  else value = run[field];
  return value === null || value === undefined || value === "" ? "(none)" : fmtValue(value);
}

/** [{name, runs}] for `runs` grouped by `field`, in natural order of the group names. */
export function groupRuns(runs, field) {
  const groups = new Map();
  for (const run of runs) {
    const name = groupOf(run, field);
    if (!groups.has(name)) groups.set(name, []);
    groups.get(name).push(run);
  }
  const collator = new Intl.Collator("en", {numeric: true});
  return [...groups.entries()].sort((a, b) => collator.compare(a[0], b[0]))
    .map(([name, members]) => ({name, runs: members}));
}

/** n, mean and sample std (0 for one value) of the finite numbers in `values`. */
export function meanStd(values) {
  const xs = values.filter((v) => typeof v === "number" && Number.isFinite(v));
  const n = xs.length;
  if (!n) return {n: 0, mean: null, std: null};
  const mean = xs.reduce((a, v) => a + v, 0) / n;
  const std = n > 1 ? Math.sqrt(xs.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1)) : 0;
  return {n, mean, std};
}

/** Suggestions for a group-by box: config keys of `runs`, then tags and kind. */
export function groupFields(runs) {
  const keys = new Set();
  for (const run of runs.slice(0, 200)) Object.keys(flatten(run.config)).forEach((k) => keys.add(`config.${k}`));
  return [...[...keys].sort(), "tags", "kind", "status", "agent"];
}

/** A "Group by" box bound to group_by in the URL; onchange(field) after each change. */
export function groupByBox(runs, current, onchange) {
  const id = `group-fields-${Math.random().toString(36).slice(2, 8)}`;
  const input = h("input", {type: "text", name: "group_by", list: id, value: current, size: 16,
    placeholder: "config.KEY, tags", "aria-label": "Group by (config.KEY, tags or kind)"});
  const apply = () => {
    const field = input.value.trim();
    setGroupByParam(field);
    onchange(field);
  };
  input.addEventListener("change", apply);
  return h("label", {class: "group-by"}, "Group by", input,
    h("datalist", {id}, groupFields(runs).map((f) => h("option", {value: f}))));
}
