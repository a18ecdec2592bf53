// Compare: runs side by side — a diff table of run fields, config, summary and final metrics
// (only what differs, or everything) — and their metric charts overlaid.

import {ChartSet, chartControls, seriesColor} from "./charts.js";
import {groupedSpecs} from "./groups.js";
import {sweepPanel} from "./sweep.js";
import {
  api, badge, boot, clear, emptyState, epochOf, fmtValue, groupByBox, groupByParam, h, query,
  runLink, subscribe, throttle,
} from "./common.js";

const main = document.getElementById("main");
const MAX_DEFAULT_CHARTS = 8;
const state = {ids: boot.ids || [], data: null, showAll: false, shownKeys: null,
  groupBy: groupByParam()};

function setIds(ids) {
  state.ids = ids;
  const group = state.groupBy ? `&group_by=${encodeURIComponent(state.groupBy)}` : "";
  history.replaceState(null, "", ids.length ? `/compare?ids=${ids.map(encodeURIComponent).join(",")}${group}` : "/compare");
  load();
}

function color(i) {
  return seriesColor(i);
}

const charts = new ChartSet(h("div", {class: "charts"}));

function addForm() {
  const input = h("input", {type: "text", placeholder: "run id or exact name", "aria-label": "Add a run by id or name", size: 28});
  const note = h("span", {class: "muted", role: "status"});
  return h("form", {class: "toolbar", onsubmit: async (e) => {
    e.preventDefault();
    const value = input.value.trim();
    if (!value) return;
    try {
      const found = await api(`/api/v1/runs${query({name: value, limit: 1})}`);
      const id = found.runs.length ? found.runs[0].id : (await api(`/api/v1/runs/${encodeURIComponent(value)}`)).id;
      if (!state.ids.includes(id)) setIds([...state.ids, id]);
      input.value = "";
      note.textContent = "";
    } catch (err) {
      note.textContent = `No run with id or name ${value}`;
    }
  }}, input, h("button", {type: "submit"}, "Add run"), note);
}

function runsHeader(runs) {
  return h("div", {class: "toolbar", style: {marginBottom: "14px"}}, runs.map((run, i) =>
    h("span", {class: "tag", style: {padding: "3px 8px", fontSize: "13px", color: "var(--text)"}, dataset: {id: run.id}},
      h("i", {style: {display: "inline-block", width: "10px", height: "10px", borderRadius: "2px", background: color(i), marginRight: "6px"}}),
      badge(run.status), " ", runLink(run), run.alias ? h("span", {class: "muted"}, ` ${run.alias}`) : null,
      h("button", {type: "button", class: "col-remove", "aria-label": `Remove ${run.name} from the comparison`, title: "Remove",
        onclick: () => setIds(state.ids.filter((x) => x !== run.id))}, "✕"))),
  addForm());
}

function cellText(value) {
  if (value === null || value === undefined) return h("span", {class: "faint"}, "—");
  return fmtValue(value);
}

function diffTable(runs, rows) {
  const differing = rows.filter((r) => r.differs);
  const shown = state.showAll ? rows : differing;
  const toggle = h("label", {class: "check"}, h("input", {type: "checkbox", checked: state.showAll, onchange: (e) => {
    state.showAll = e.target.checked;
    render();
  }}), `Show all ${rows.length} rows`);
  const body = [];
  let section = null;
  const titles = {run: "Run", config: "Config", summary: "Summary", metrics: "Final metrics"};
  for (const row of shown) {
    if (row.section !== section) {
      section = row.section;
      body.push(h("tr", {class: "section"}, h("th", {colspan: String(runs.length + 1), scope: "colgroup"}, titles[section] || section)));
    }
    const first = JSON.stringify(row.values[0]);
    body.push(h("tr", {dataset: {section: row.section, key: row.key, differs: row.differs ? "1" : "0"}},
      h("td", {class: "key"}, row.key),
      row.values.map((v, i) => h("td", {class: `value${row.differs && (i > 0 && JSON.stringify(v) !== first) ? " diff" : ""}`},
        row.section === "run" && row.key === "status" && v ? badge(v) : (row.section === "run" && row.key === "duration_s" ? fmtDurationCell(v) : cellText(v))))));
  }
  return h("section", {class: "panel", id: "diff", "aria-label": "Differences"},
    h("div", {class: "panel-head"}, h("h2", {}, "Differences"),
      h("span", {class: "muted"}, `${differing.length} of ${rows.length} rows differ`), h("span", {class: "spacer"}), toggle),
    shown.length ? h("div", {class: "table-wrap"}, h("table", {class: "grid"},
      h("thead", {}, h("tr", {}, h("th", {scope: "col"}, "Key"), runs.map((r, i) => h("th", {scope: "col"},
        h("i", {style: {display: "inline-block", width: "9px", height: "9px", borderRadius: "2px", background: color(i), marginRight: "5px"}}), r.name)))),
      h("tbody", {}, body)))
      : h("div", {class: "empty"}, "These runs do not differ in config, summary or final metrics."));
}

function fmtDurationCell(v) {
  if (v === null || v === undefined) return h("span", {class: "faint"}, "—");
  return `${fmtValue(Math.round(v))} s`;
}

function chartsPanel(runs) {
  const counts = new Map();
  for (const run of runs) for (const key of Object.keys(run.metrics || {})) counts.set(key, (counts.get(key) || 0) + 1);
  const keys = [...counts.keys()].sort((a, b) => (counts.get(b) - counts.get(a)) || a.localeCompare(b));
  if (state.shownKeys === null) state.shownKeys = keys.slice(0, MAX_DEFAULT_CHARTS);
  const panel = h("section", {class: "panel", id: "charts", "aria-label": "Metric charts"},
    h("div", {class: "panel-head"}, h("h2", {}, "Metrics"), h("span", {class: "muted"}, `${keys.length} keys`)));
  if (!keys.length) {
    panel.append(h("div", {class: "empty"}, "None of these runs logged metrics."));
    return panel;
  }
  const keysBox = h("div", {class: "keys", role: "group", "aria-label": "Metric keys shown"}, keys.map((key) => {
    const box = h("input", {type: "checkbox", value: key, onchange: () => {
      state.shownKeys = [...keysBox.querySelectorAll("input:checked")].map((i) => i.value);
      setCharts(runs);
    }});
    box.checked = state.shownKeys.includes(key);
    return h("label", {class: "check"}, box, key, h("span", {class: "faint"}, ` ${counts.get(key)}/${runs.length}`));
  }));
  panel.append(chartControls(charts, [groupByBox(runs, state.groupBy, (field) => {
    state.groupBy = field;
    setCharts(runs);
  })]), keysBox, charts.container);
  return panel;
}

/**
 * Short legend labels: the names without the path segments every compared run shares
 * ("cv/resnet18-sweep/lr=0.001,bs=64" → "lr=0.001,bs=64"); the full name stays in the table.
 */
export function shortNames(names) {
  const parts = names.map((n) => n.split("/"));
  let common = 0;
  while (parts.every((p) => p.length > common + 1 && p[common] === parts[0][common])) common++;
  const short = parts.map((p) => p.slice(common).join("/"));
  return new Set(short).size === short.length ? short : names;
}

function setCharts(runs) {
  const labels = shortNames(runs.map((r) => r.name));
  if (state.groupBy) return charts.set(groupedSpecs(runs, state.shownKeys, state.groupBy, labels, "compare"));
  const specs = state.shownKeys.map((key) => ({
    title: key, fileName: `compare-${key}`,
    series: runs.map((run, i) => ({run, i})).filter(({run}) => key in (run.metrics || {}))
      .map(({run, i}) => ({runId: run.id, key, label: labels[i], colorIndex: i, t0: epochOf(run.started_at || run.created_at)})),
  }));
  return charts.set(specs);
}

function render() {
  const {runs, rows} = state.data;
  clear(main,
    h("div", {class: "page-head"}, h("h1", {}, `Compare ${runs.length} runs`)),
    runsHeader(runs),
    h("div", {class: "stack"}, diffTable(runs, rows), sweepPanel(runs), chartsPanel(runs)));
  if (state.shownKeys && state.shownKeys.length) setCharts(runs);
}

async function load() {
  if (!state.ids.length) {
    clear(main, h("div", {class: "page-head"}, h("h1", {}, "Compare")),
      h("div", {class: "panel"}, emptyState("Pick runs to compare",
        "Tick two or more runs on the Runs page and press Compare, or open /compare?ids=ID,ID. " +
        "A parent's “Compare children” button compares its seeds or sweep points."),
      h("div", {class: "panel-body"}, addForm())));
    main.dataset.loaded = "1";
    return;
  }
  try {
    state.data = await api(`/api/v1/ui/compare${query({ids: state.ids.join(",")})}`);
  } catch (err) {
    clear(main, h("div", {class: "page-head"}, h("h1", {}, "Compare")),
      h("div", {class: "panel"}, emptyState("Could not compare these runs", err.message),
        h("div", {class: "panel-body"}, h("a", {href: "/"}, "← All runs"))));
    main.dataset.loaded = "1";
    return;
  }
  state.shownKeys = null;
  render();
  main.dataset.loaded = "1";
}

// Live: a compared run's state or summary changes → reload the table; while any is live,
// its charts refresh every few seconds (points are not events).
const reload = throttle(async () => {
  try {
    state.data = await api(`/api/v1/ui/compare${query({ids: state.ids.join(",")})}`);
  } catch (err) {
    return;
  }
  const keep = state.shownKeys;
  render();
  state.shownKeys = keep;
}, 1000);
subscribe((event) => {
  if (state.ids.includes(event.run_id)) reload();
});
window.addEventListener("picidae:theme", () => state.data && render());  // swatch colours
setInterval(() => {
  const live = state.data && state.data.runs.some((r) => !["completed", "failed", "canceled", "archived"].includes(r.status));
  if (live) charts.refresh();
}, 1500);

load();
