// One run: header, transition timeline, details, metric charts, children with their
// aggregates, the log with live tail, artifacts, lineage. Live while the run is.

import {ChartSet, chartControls} from "./charts.js";
import {
  TERMINAL, api, badge, boot, clear, emptyState, epochOf, flatten, fmtAgo, fmtDuration, fmtMeanStd, fmtNum, fmtTime,
  fmtValue, groupByBox, groupByParam, h, parentPrimary, query, runLink, subscribe, throttle,
  toast,
} from "./common.js";
import {RunActions} from "./actions.js";
import {ArtifactsPanel} from "./artifacts.js";
import {groupedSpecs} from "./groups.js";
import {RunLog} from "./runlog.js";
import {trialsPanel} from "./trials.js";

const runId = boot.run_id;
const main = document.getElementById("main");
const POLL_MS = 1000;  // points are not events: a live run's are polled
const MAX_DEFAULT_CHARTS = 12;

const state = {
  run: null,
  keys: [],
  sysKeys: [],
  latestJson: "",
  shownKeys: null,
  combine: false,
  childIds: new Set(),
  kids: [],
  childAgg: null,
  groupBy: groupByParam(),
  timer: null,
};

// ---- Layout -------------------------------------------------------------------------------

const head = h("section", {class: "run-head", "aria-label": "Run"});
const chartsBox = h("div", {class: "charts"});
const keysBox = h("div", {class: "keys", role: "group", "aria-label": "Metric keys shown"});
const charts = new ChartSet(chartsBox);
const groupSlot = h("span", {});  // "Group by" for a parent's children, once they are known
const combineBox = h("input", {type: "checkbox", onchange: (e) => {
  state.combine = e.target.checked;
  setCharts();
}});
const metricsPanel = h("section", {class: "panel", id: "metrics", "aria-label": "Metrics"},
  h("div", {class: "panel-head"}, h("h2", {}, "Metrics"), h("span", {class: "muted", id: "metrics-count"})),
  chartControls(charts, [h("label", {class: "check"}, combineBox, "One chart"), groupSlot]),
  keysBox, chartsBox);
const childrenPanel = h("section", {class: "panel", id: "children", hidden: true, "aria-label": "Children"});
const trialsSlot = h("div", {});  // a sweep's trials: ranked, over time, parallel coordinates
// system/* metrics (CPU, memory, GPU, I/O sampled alongside the run) chart in their own section.
const sysBox = h("div", {class: "charts"});
const sysCharts = new ChartSet(sysBox, {bands: false});
const systemPanel = h("section", {class: "panel", id: "system", hidden: true, "aria-label": "System"},
  h("div", {class: "panel-head"}, h("h2", {}, "System"), h("span", {class: "muted", id: "system-count"}),
    h("span", {class: "faint"}, "axis, scale and smoothing as in Metrics")), sysBox);
// One set of controls (the Metrics panel's) drives both sets of charts.
charts.setOption = (name, value) => Promise.all([ChartSet.prototype.setOption.call(charts, name, value),
  name === "bands" ? null : sysCharts.setOption(name, value)]);
const runLog = new RunLog(runId);
const actions = new RunActions(() => loadRun());
const artifacts = new ArtifactsPanel(runId);
const timelinePanel = h("section", {class: "panel", id: "timeline", "aria-label": "Timeline"},
  h("div", {class: "panel-head"}, h("h2", {}, "Timeline")), h("div", {class: "panel-body"}));
const detailsPanel = h("section", {class: "panel", id: "details", "aria-label": "Details"},
  h("div", {class: "panel-head"}, h("h2", {}, "Details")), h("div", {class: "panel-body"}));

function layout() {
  clear(main, head, h("div", {class: "run-grid"},
    h("div", {class: "stack"}, metricsPanel, trialsSlot, childrenPanel, systemPanel, runLog.panel,
      artifacts.panel),
    h("div", {class: "stack"}, timelinePanel, detailsPanel)));
}

// ---- Header -------------------------------------------------------------------------------

async function lineageLink(label, id) {
  if (!id) return null;
  const a = h("a", {href: `/runs/${encodeURIComponent(id)}`}, id.slice(0, 8));
  api(`/api/v1/runs/${encodeURIComponent(id)}`).then((r) => { a.textContent = r.name; }, () => {});
  return h("span", {}, `${label} `, a);
}

function primaryText(pm) {
  if (!pm || !pm.name) return null;
  if (pm.best !== null && pm.best !== undefined) {
    return `${pm.name} ${fmtNum(pm.best)}${pm.step !== null && pm.step !== undefined ? ` @ step ${pm.step}` : ""} (${pm.mode || "max"})`;
  }
  const kids = parentPrimary(pm, state.childAgg);
  if (kids) return h("span", {title: kids.title}, `${pm.name} ${kids.text} (${kids.title.split(": ").pop()})`);
  return `${pm.name} — (${pm.mode || "max"})`;
}

async function renderHead(run) {
  document.title = `${run.name} · Picidae`;
  const pm = run.primary_metric;
  const meta = [
    ["Created", h("span", {title: fmtTime(run.created_at)}, fmtAgo(run.created_at))],
    ["Started", run.started_at ? fmtTime(run.started_at) : "—"],
    ["Duration", fmtDuration(run.duration_s)],
    ["Trigger", run.trigger],
    ["Agent", run.agent],
    ["Benchmark", run.benchmark],
    ["Evaluation", typeof run.evaluation === "string" ? run.evaluation : null],
    ["Seed", run.seed],
    ["Attempt", run.attempt > 1 ? run.attempt : null],
    ["Primary", primaryText(pm)],
  ].filter(([, v]) => v !== null && v !== undefined && v !== "");
  const lineage = (await Promise.all([
    lineageLink("child of", run.parent_id),
    run.root_id && run.root_id !== run.parent_id && run.root_id !== run.id ? lineageLink("root", run.root_id) : null,
    lineageLink("retry of", run.retry_of),
    lineageLink("replay of", run.replay_of),
  ])).filter(Boolean);
  const progress = run.progress && typeof run.progress.fraction === "number" && !TERMINAL.has(run.status)
    ? h("div", {}, h("span", {class: "progress", role: "progressbar", "aria-valuemin": "0", "aria-valuemax": "100",
      "aria-valuenow": String(Math.round(run.progress.fraction * 100))},
    h("span", {style: {width: `${Math.round(run.progress.fraction * 100)}%`}})),
    h("span", {class: "muted"}, ` ${Math.round(run.progress.fraction * 100)}% ${run.progress.message || ""}`))
    : null;
  const failure = run.failure ? h("div", {class: "failure", role: "note"},
    h("strong", {}, `Failed (${run.failure.reason || "error"})`), run.failure.message ? `: ${run.failure.message}` : "",
    run.failure.exit_code !== undefined && run.failure.exit_code !== null ? ` — exit code ${run.failure.exit_code}` : "",
    run.failure.traceback ? h("details", {}, h("summary", {}, "Traceback"), h("pre", {class: "mono"}, run.failure.traceback)) : null)
    : null;
  clear(head,
    h("div", {class: "crumbs"}, h("a", {href: "/"}, "Runs"), lineage.length ? " · " : "",
      lineage.flatMap((el, i) => (i ? [" · ", el] : [el]))),
    h("div", {class: "title"}, badge(run.status), h("h1", {}, run.name),
      run.alias ? h("span", {class: "muted"}, run.alias) : null,
      run.kind ? h("span", {class: "tag"}, run.kind) : null,
      h("code", {class: "faint", title: "Run id"}, run.id),
      h("button", {type: "button", class: "small", onclick: () => copy(run.id)}, "Copy id"),
      h("a", {class: "button small", href: `/api/v1/runs/${encodeURIComponent(run.id)}`}, "JSON")),
    h("div", {class: "meta"}, meta.map(([k, v]) => h("span", {}, `${k} `, h("b", {}, v)))),
    actions.el, progress, failure);
  actions.render(run);  // once the viewer's role is known (asked once, at start)
}

function copy(text) {
  navigator.clipboard?.writeText(text).then(() => toast("Copied"), () => toast(text));
}

// ---- Timeline and details -------------------------------------------------------------------

function renderTimeline(run) {
  const items = [h("li", {}, h("span", {class: "pin", style: {"--c": "var(--faint)"}}),
    h("div", {class: "move"}, "created"),
    h("div", {class: "when"}, fmtTime(run.created_at)),
    h("div", {class: "why muted"}, `trigger: ${run.trigger || "user"}`))];
  for (const t of run.transitions || []) {
    const delta = epochOf(t.at) - epochOf(run.created_at);
    items.push(h("li", {dataset: {to: t.to}},
      h("span", {class: "pin", style: {"--c": `var(--s-${t.to})`}}),
      h("div", {class: "move"}, t.from ? `${t.from} → ` : "", badge(t.to)),
      h("div", {class: "when"}, h("time", {datetime: new Date(epochOf(t.at) * 1000).toISOString()}, fmtTime(t.at)),
        delta > 0 ? ` · +${fmtDuration(delta)}` : ""),
      t.reason ? h("div", {class: "why"}, t.reason) : null,
      h("div", {class: "why muted"}, `by ${t.actor || "unknown"}`)));
  }
  clear(timelinePanel.lastChild, h("ol", {class: "timeline"}, items));
}

function kv(obj) {
  const flat = flatten(obj);
  const keys = Object.keys(flat);
  if (!keys.length) return h("p", {class: "faint"}, "none");
  return h("dl", {class: "kv"}, keys.map((k) => [h("dt", {}, k), h("dd", {}, fmtValue(flat[k]))]));
}

function section(title, body, open = true, count = null) {
  return h("details", {class: "section", open, dataset: {section: title.toLowerCase()}},
    h("summary", {}, title, count !== null ? h("span", {class: "faint"}, ` ${count}`) : null), body);
}

function shellQuote(argv) {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${String(a).replace(/'/g, "'\\''")}'`)).join(" ");
}

function imageText(image) {
  // The container image: {runtime, name, digest} (or a plain string from older records).
  if (typeof image !== "object") return h("code", {}, String(image));
  const label = image.name || image.digest || image.runtime || "unknown";
  return h("div", {}, h("code", {title: image.digest || ""}, label),
    image.digest && image.name ? h("div", {class: "faint mono"}, image.digest) : null,
    image.runtime ? h("div", {class: "faint"}, `runtime: ${image.runtime}`) : null);
}

function renderDetails(run) {
  const parts = [];
  parts.push(section("Summary", kv(run.summary), true, Object.keys(flatten(run.summary)).length));
  parts.push(section("Config", kv(run.config), true, Object.keys(flatten(run.config)).length));
  if (run.notes) parts.push(section("Notes", h("div", {class: "notes"}, run.notes)));
  parts.push(section("Tags", (run.tags || []).length ? h("div", {}, run.tags.map((t) =>
    h("a", {class: "tag", href: `/?where=${encodeURIComponent(`tags contains "${t}"`)}`}, t)))
    : h("p", {class: "faint"}, "none")));
  if (run.command) {
    parts.push(section("Command", h("pre", {class: "block"},
      Array.isArray(run.command) ? shellQuote(run.command) : String(run.command))));
  }
  if (run.code) parts.push(section("Code", kv(run.code)));
  parts.push(section("Inputs", (run.inputs || []).length ? h("ul", {}, run.inputs.map((i) =>
    h("li", {}, h("b", {}, i.name), i.version ? ` ${i.version}` : "",
      i.digest ? h("code", {class: "faint", title: i.digest}, ` ${String(i.digest).slice(0, 12)}`) : null,
      i.uri ? h("div", {class: "faint mono"}, i.uri) : null)))
    : h("p", {class: "faint"}, "none"), (run.inputs || []).length > 0));
  parts.push(section("Outputs", kv(run.outputs), Object.keys(run.outputs || {}).length > 0));
  if (run.resources) parts.push(section("Resources", typeof run.resources === "object" ? kv(run.resources) : String(run.resources)));
  if (run.cost !== null && run.cost !== undefined) parts.push(section("Cost", typeof run.cost === "object" ? kv(run.cost) : fmtValue(run.cost)));
  if (run.compute) parts.push(section("Compute", typeof run.compute === "object" ? kv(run.compute) : String(run.compute)));
  if (run.evaluation && typeof run.evaluation === "object") parts.push(section("Evaluation", kv(run.evaluation)));
  if (run.env) parts.push(section("Environment", kv(run.env), false, Object.keys(flatten(run.env)).length));
  if (run.image) parts.push(section("Image", imageText(run.image)));
  if ((run.warnings || []).length) parts.push(section("Warnings", h("ul", {}, run.warnings.map((w) => h("li", {}, fmtValue(w))))));
  clear(detailsPanel.lastChild, parts);
}

// ---- Metrics --------------------------------------------------------------------------------

function renderKeys() {
  clear(keysBox, state.keys.map((key) => {
    const box = h("input", {type: "checkbox", value: key, onchange: () => {
      state.shownKeys = [...keysBox.querySelectorAll("input:checked")].map((i) => i.value);
      setCharts();
    }});
    box.checked = state.shownKeys.includes(key);
    return h("label", {class: "check"}, box, key);
  }));
  keysBox.hidden = state.keys.length < 2;
}

function relativeName(kid) {
  const prefix = `${state.run.name}/`;
  return kid.name.startsWith(prefix) ? kid.name.slice(prefix.length) : kid.name;
}

function childrenCharts() {
  // A parent without metrics of its own (or grouped by group_by): all its children's series,
  // one chart per key — overlaid, or per group a mean line with a ± std band.
  const kids = state.kids;
  const keys = [...new Set(kids.flatMap((k) => Object.keys(k.metrics || {})))].sort()
    .slice(0, MAX_DEFAULT_CHARTS);
  metricsPanel.querySelector("h2").textContent = "Children's metrics";
  document.getElementById("metrics-count").textContent = state.groupBy
    ? `${kids.length} children grouped by ${state.groupBy}` : `${kids.length} children overlaid`;
  keysBox.hidden = true;
  combineBox.closest("label").hidden = true;
  if (state.groupBy) {
    return charts.set(groupedSpecs(kids, keys, state.groupBy, kids.map(relativeName),
      `${state.run.name}-children`));
  }
  return charts.set(keys.map((key) => ({
    title: key, fileName: `${state.run.name}-children-${key}`,
    series: kids.map((kid, i) => ({kid, i})).filter(({kid}) => key in (kid.metrics || {}))
      .map(({kid, i}) => ({runId: kid.id, key, label: relativeName(kid), colorIndex: i,
        t0: epochOf(kid.started_at || kid.created_at)})),
  })));
}

function showingChildren() {
  return (!state.keys.length || Boolean(state.groupBy)) && state.kids.some((k) => Object.keys(k.metrics || {}).length);
}

function setCharts() {
  const run = state.run;
  const keys = state.keys.filter((k) => state.shownKeys.includes(k));
  document.getElementById("metrics-count").textContent = state.keys.length
    ? `${state.keys.length} ${state.keys.length === 1 ? "key" : "keys"}` : "";
  if (showingChildren()) {
    return childrenCharts();
  }
  if (!state.keys.length) {
    chartsBox.replaceChildren(emptyState("No metrics yet", TERMINAL.has(run.status)
      ? "This run logged no metrics." : "Points appear here as the run logs them:",
    TERMINAL.has(run.status) ? null : 'run.log(loss=0.42, stage="train")'));
    return Promise.resolve();
  }
  const series = (key) => ({runId: run.id, key, label: key, t0: epochOf(run.started_at || run.created_at)});
  const specs = state.combine && keys.length > 1
    ? [{title: keys.join(", "), fileName: `${run.name}-metrics`, series: keys.map(series)}]
    : keys.map((key) => ({title: key, fileName: `${run.name}-${key}`, series: [series(key)]}));
  const done = charts.set(specs);
  if (specs.length === 1) charts.charts[0].card.classList.add("wide");
  return done;
}

function fetchKeys() {
  return api(`/api/v1/runs/${encodeURIComponent(runId)}/metrics`);
}

async function loadMetrics(initial, prefetched = null) {
  const body = prefetched || await fetchKeys();
  const json = JSON.stringify(body);
  if (!initial && json === state.latestJson) return;
  state.latestJson = json;
  const own = body.keys.filter((k) => !k.startsWith("system/"));
  const system = body.keys.filter((k) => k.startsWith("system/"));
  const newKeys = JSON.stringify(own) !== JSON.stringify(state.keys);
  const newSystem = JSON.stringify(system) !== JSON.stringify(state.sysKeys);
  const previous = state.keys;
  state.keys = own;
  state.sysKeys = system;
  if (state.shownKeys === null) state.shownKeys = own.slice(0, MAX_DEFAULT_CHARTS);
  else if (newKeys) {
    // Keys that appear while watching are shown too.
    state.shownKeys = [...state.shownKeys, ...own.filter((k) => !previous.includes(k))];
  }
  await Promise.all([
    initial || newKeys ? (renderKeys(), setCharts()) : charts.refresh(),
    initial || newSystem ? setSystemCharts() : sysCharts.refresh(),
  ]);
}

function setSystemCharts() {
  const run = state.run;
  systemPanel.hidden = !state.sysKeys.length;
  document.getElementById("system-count").textContent = state.sysKeys.length
    ? `${state.sysKeys.length} ${state.sysKeys.length === 1 ? "key" : "keys"}` : "";
  return sysCharts.set(state.sysKeys.map((key) => ({title: key.slice("system/".length), keys: [key],
    fileName: `${run.name}-${key}`, series: [{runId: run.id, key, label: key, t0: run.started_at || run.created_at}]})));
}

// ---- Children -------------------------------------------------------------------------------

async function loadChildren() {
  const [kids, agg] = await Promise.all([
    api(`/api/v1/runs${query({parent: runId, order_by: "created_at asc", limit: 500})}`),
    api(`/api/v1/runs/${encodeURIComponent(runId)}/children_stats`),
  ]);
  if (!kids.runs.length) {
    childrenPanel.hidden = true;
    return;
  }
  state.childIds = new Set(kids.runs.map((k) => k.id));
  state.kids = kids.runs;
  if (!groupSlot.firstChild) {
    groupSlot.append(groupByBox(state.kids, state.groupBy, (field) => {
      state.groupBy = field;
      if (!field) {  // back to the run's own charts, if it has any
        metricsPanel.querySelector("h2").textContent = "Metrics";
        keysBox.hidden = state.keys.length < 2;
        combineBox.closest("label").hidden = false;
      }
      setCharts();
    }));
  }
  const hadStats = state.childAgg !== null;
  state.childAgg = agg;
  if (!hadStats) await renderHead(state.run);
  childrenPanel.hidden = false;
  if (state.run.kind === "sweep") clear(trialsSlot, trialsPanel(state.run, kids.runs));
  const pm = state.run.primary_metric && state.run.primary_metric.name;
  // Every key the children have (the table scrolls sideways), the primary metric first.
  const keys = Object.keys(agg.stats).sort((a, b) => (b === pm) - (a === pm));
  const statuses = Object.entries(agg.statuses).map(([s, n]) => `${n} ${s}`).join(", ");
  clear(childrenPanel,
    h("div", {class: "panel-head"}, h("h2", {}, "Children"),
      h("span", {class: "muted"}, `${agg.children} (${statuses})`), h("span", {class: "spacer"}),
      kids.runs.length > 1 ? h("a", {class: "button small",
        href: `/compare?ids=${kids.runs.slice(0, 50).map((k) => encodeURIComponent(k.id)).join(",")}`}, "Compare children") : null),
    h("div", {class: "table-wrap"}, h("table", {class: "runs"},
      h("thead", {}, h("tr", {}, ["Status", "Name", "Kind", "Seed", "Duration"].map((c) => h("th", {scope: "col"}, c)),
        keys.map((k) => h("th", {scope: "col", class: "num"}, k)))),
      h("tbody", {}, kids.runs.map((kid) => h("tr", {dataset: {id: kid.id}},
        h("td", {}, badge(kid.status)), h("td", {class: "nowrap"}, runLink(kid, relativeName(kid))), h("td", {}, kid.kind || ""),
        h("td", {}, kid.seed ?? ""), h("td", {class: "nowrap"}, fmtDuration(kid.duration_s)),
        keys.map((k) => h("td", {class: "num"}, fmtNum((kid.metrics || {})[k] ?? (kid.summary || {})[k])))))),
      keys.some((k) => agg.stats[k].n > 1) ? h("tfoot", {}, h("tr", {class: "stats-row"},
        h("td", {colspan: "5"}, `mean ± std (of ${agg.children} children)`),
        // mean ± std only where two or more children have the key (phases each log their own)
        keys.map((k) => (agg.stats[k].n > 1
          ? h("td", {class: "num nowrap", title: `n=${agg.stats[k].n}, min ${fmtNum(agg.stats[k].min)}, max ${fmtNum(agg.stats[k].max)}`},
            h("b", {}, `${fmtMeanStd(agg.stats[k])}`))
          : h("td", {class: "num faint", title: "only one child has this key"}, "—"))))) : null)));
}

function loadLog() {
  return runLog.load(TERMINAL.has(state.run.status));
}

function loadArtifacts() {
  return artifacts.load();
}

// ---- Loading and live -----------------------------------------------------------------------

async function loadRun() {
  const run = await api(`/api/v1/runs/${encodeURIComponent(runId)}`);
  const before = state.run;
  state.run = run;
  if (!before || JSON.stringify(before) !== JSON.stringify(run)) {
    await renderHead(run);
    renderTimeline(run);
    renderDetails(run);
  }
  return {before, run};
}

function live() {
  // A queued run is watched through events (its start is a transition); once it runs, its
  // points and log lines (which are not events) are polled.
  return !TERMINAL.has(state.run.status) && state.run.status !== "queued";
}

async function tick() {
  state.timer = null;
  try {
    const {before, run} = await loadRun();
    await Promise.all([loadMetrics(false), loadLog()]);
    // A parent showing its children's charts: their new points are polled too.
    if (showingChildren() && state.kids.some((k) => !TERMINAL.has(k.status))) await charts.refresh();
    if (before && before.status !== run.status && TERMINAL.has(run.status)) await loadChildren();
  } catch (err) {
    // A failed poll (server restarting) is retried at the next tick.
  }
  schedule();
}

function schedule() {
  if (!state.timer && state.run && live()) state.timer = setTimeout(tick, POLL_MS);
}

const refreshRun = throttle(async () => {
  try {
    const {before, run} = await loadRun();
    if (before && before.status !== run.status) {
      await Promise.all([loadMetrics(false), loadLog()]);
      schedule();
    }
  } catch (err) { /* next event or tick */ }
}, 300);
const refreshChildren = throttle(() => loadChildren().catch(() => {}), 1000);

async function start() {
  // The keys are asked alongside the run (not after it), so the charts start one round trip
  // sooner; a run with its own metrics draws them without waiting for children, log and files.
  const keysAsked = fetchKeys();
  keysAsked.catch(() => {});
  try {
    await loadRun();
  } catch (err) {
    clear(main, err.status === 404
      ? emptyState("No such run", `There is no run with id ${runId} in this store. It may have been deleted.`)
      : emptyState("Could not load this run", err.message));
    main.firstChild.append(h("p", {}, h("a", {href: "/"}, "← All runs")));
    main.dataset.loaded = "1";
    return;
  }
  layout();
  const keys = await keysAsked;
  const rest = Promise.all([loadChildren(), loadLog(), loadArtifacts()]);
  if (!state.groupBy && keys.keys.some((k) => !k.startsWith("system/"))) {
    await Promise.all([loadMetrics(true, keys), rest]);
  } else {
    await rest;  // whether it shows its children's charts depends on them
    await loadMetrics(true, keys);
  }
  if (state.kids.length) {
    // A parent's children come first: they are what it is about.
    metricsPanel.before(childrenPanel);
  }
  main.dataset.loaded = "1";
  subscribe((event) => {
    if (event.run_id === runId) {
      if (event.type === "run.artifact") loadArtifacts();
      else if (event.type === "run.deleted") location.reload();
      else refreshRun();
    } else if (event.parent_id === runId || state.childIds.has(event.run_id)) {
      refreshChildren();
    }
  });
  schedule();
}

start();
