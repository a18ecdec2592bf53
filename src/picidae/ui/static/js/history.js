// History: runs per status over time, failure rate, duration percentiles, cost.

import {
  INIT_SNIPPET, STATES, api, clear, cssVar, emptyState, fmtDuration, fmtNum, h, query, runLink,
  subscribe, throttle, timeEl,
} from "./common.js";

const main = document.getElementById("main");
const url = new URL(location.href);
const state = {days: Number(url.searchParams.get("days")) || 14, data: null, plot: null};
const RANGES = [[1, "Last 24 hours"], [7, "Last 7 days"], [14, "Last 14 days"], [30, "Last 30 days"],
  [90, "Last 90 days"], [365, "Last year"]];

function label(t, bucket) {
  const d = new Date(t * 1000);
  if (bucket === "hour") return `${String(d.getHours()).padStart(2, "0")}:00`;
  return `${d.getMonth() + 1}/${d.getDate()}`;
}

function card(title, value, note) {
  return h("div", {class: "panel card"}, h("div", {class: "label"}, title), h("div", {class: "value"}, value),
    note ? h("div", {class: "faint"}, note) : null);
}

const PLOT_H = 200;  // px of the runs-per-period chart's plot area

/** A round axis top and step for counts up to `max`: 1, 2 or 5 × 10^k per step. */
export function niceScale(max, ticks = 4) {
  const raw = Math.max(1, max) / ticks;
  const pow = 10 ** Math.floor(Math.log10(raw));
  const step = Math.max(1, [1, 2, 5, 10].map((m) => m * pow).find((s) => s >= raw));
  return {top: step * Math.ceil(Math.max(1, max) / step), step};
}

function bars(data) {
  const totals = data.buckets.map((b) => Object.values(b.counts).reduce((a, n) => a + n, 0));
  const {top, step} = niceScale(Math.max(0, ...totals));
  const every = Math.ceil(data.buckets.length / 14);
  const ticks = [];
  for (let v = 0; v <= top; v += step) ticks.push(v);
  const y = (v) => `${(v / top) * PLOT_H}px`;
  return h("div", {},
    h("div", {class: "bars-chart"},
      h("div", {class: "bars-y", "aria-hidden": "true"}, ticks.map((v) =>
        h("span", {style: {bottom: y(v)}}, fmtNum(v)))),
      h("div", {class: "bars", role: "img", "aria-label": "Runs created per period, by status"},
        ticks.map((v) => h("i", {class: "gridline", style: {bottom: y(v)}})),
        data.buckets.map((b, i) => {
          const total = totals[i];
          const parts = Object.entries(b.counts).map(([s, n]) => `${n} ${s}`).join(", ");
          return h("div", {class: "col", dataset: {total: String(total), start: String(b.start)},
            title: `${label(b.start, data.bucket)}: ${total} runs${parts ? ` (${parts})` : ""}`},
          total ? h("span", {class: "n"}, fmtNum(total)) : null,
          h("div", {class: "bar", style: {height: y(total)}},
            STATES.filter((s) => b.counts[s]).map((s) => h("span", {style: {
              height: `${(b.counts[s] / total) * 100}%`, background: `var(--s-${s})`}}))));
        })),
      h("span", {}),
      h("div", {class: "bars-axis", "aria-hidden": "true"}, data.buckets.map((b, i) =>
        h("span", {}, i % every === 0 ? label(b.start, data.bucket) : "")))),
    h("div", {class: "legend"}, STATES.filter((s) => data.totals[s]).map((s) =>
      h("span", {}, h("i", {style: {background: `var(--s-${s})`}}), `${s} ${fmtNum(data.totals[s])}`))));
}

function failureChart(el, data) {
  if (state.plot) state.plot.destroy();
  const xs = data.buckets.map((b) => b.start);
  const rate = data.buckets.map((b) => (b.failure_rate === null ? null : 100 * b.failure_rate));
  const text = cssVar("--muted");
  const grid = cssVar("--grid");
  const axis = {stroke: text, grid: {stroke: grid, width: 1}, ticks: {stroke: grid, width: 1}};
  state.plot = new uPlot({
    width: Math.max(300, el.clientWidth || 600), height: 180,
    scales: {x: {time: true}, y: {range: [0, 110]}},
    axes: [axis, {...axis, size: 52, label: "failed of ended", labelSize: 18,
      labelFont: "11px system-ui, sans-serif", values: (u, v) => v.map((x) => `${x}%`)}],
    series: [{}, {label: "failure rate", stroke: cssVar("--s-failed"), width: 2,
      points: {show: true, size: 5}, spanGaps: true, value: (u, v) => (v === null ? "—" : `${v.toFixed(1)}%`)}],
    hooks: {draw: [(u) => pointValues(u, text)]},
  }, [xs, rate], el);
}

/** Each period's failure rate written above its point (when there is room for them). */
function pointValues(u, color) {
  const [xs, ys] = u.data;
  if (xs.length > 40) return;
  const ctx = u.ctx;
  const px = devicePixelRatio || 1;
  ctx.save();
  ctx.font = `${10 * px}px system-ui, sans-serif`;
  ctx.textAlign = "center";
  ctx.textBaseline = "bottom";
  ctx.fillStyle = color;
  for (let i = 0; i < xs.length; i++) {
    if (ys[i] === null || ys[i] === undefined) continue;
    ctx.fillText(`${Number(ys[i].toFixed(1))}%`, u.valToPos(xs[i], "x", true), u.valToPos(ys[i], "y", true) - 4 * px);
  }
  ctx.restore();
}

function render() {
  const data = state.data;
  const range = h("select", {"aria-label": "Time range", onchange: (e) => {
    state.days = Number(e.target.value);
    history.replaceState(null, "", `/history${query({days: state.days === 14 ? "" : state.days})}`);
    load();
  }}, RANGES.map(([d, text]) => h("option", {value: String(d)}, text)));
  range.value = String(state.days);
  const headEl = h("div", {class: "page-head"}, h("h1", {}, "History"), h("span", {class: "count"},
    `${fmtNum(data.total)} runs`), h("span", {class: "spacer"}), range);
  if (!data.total) {
    clear(main, headEl, h("div", {class: "panel"}, emptyState("No runs in this period",
      "Pick a longer range, or record a run:", INIT_SNIPPET)));
    return;
  }
  const d = data.duration;
  const chartEl = h("div", {});
  const sampled = d.sampled && d.n < d.of ? ` (latest ${fmtNum(d.n)} of ${fmtNum(d.of)} ended)` : "";
  const cost = data.cost.runs ? `${fmtNum(data.cost.total)}${data.cost.currency ? ` ${data.cost.currency}` : ""}` : "—";
  clear(main, headEl,
    h("div", {class: "cards"},
      card("Runs", fmtNum(data.total), `${fmtNum(data.ended)} ended`),
      card("Failure rate", data.failure_rate === null ? "—" : `${(data.failure_rate * 100).toFixed(1)}%`,
        `${fmtNum(data.failed)} failed of ${fmtNum(data.ended)} ended`),
      card("Median duration", fmtDuration(d.p50), d.n ? `p95 ${fmtDuration(d.p95)}` : "no ended runs"),
      card("Cost", cost, data.cost.runs ? `${fmtNum(data.cost.runs)} runs with a cost${sampled}` : "no run reported a cost")),
    h("div", {class: "stack"},
      h("section", {class: "panel", "aria-label": "Runs per status over time"},
        h("div", {class: "panel-head"}, h("h2", {}, `Runs per ${data.bucket}, by status`)),
        h("div", {class: "panel-body"}, bars(data))),
      h("div", {class: "run-grid"},
        h("section", {class: "panel", "aria-label": "Failure rate"},
          h("div", {class: "panel-head"}, h("h2", {}, `Failure rate per ${data.bucket}`)),
          h("div", {class: "panel-body"}, chartEl)),
        h("section", {class: "panel", "aria-label": "Durations"},
          h("div", {class: "panel-head"}, h("h2", {}, "Duration of ended runs"),
            sampled ? h("span", {class: "muted"}, sampled) : null),
          h("div", {class: "panel-body"}, h("dl", {class: "kv"},
            [["runs", fmtNum(d.n)], ["mean", fmtDuration(d.mean)], ["p50", fmtDuration(d.p50)],
              ["p90", fmtDuration(d.p90)], ["p95", fmtDuration(d.p95)], ["p99", fmtDuration(d.p99)],
              ["max", fmtDuration(d.max)]].map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]))))),
      h("section", {class: "panel", "aria-label": "Recent failures"},
        h("div", {class: "panel-head"}, h("h2", {}, "Recent failures")),
        data.recent_failures.length ? h("table", {class: "grid"},
          h("thead", {}, h("tr", {}, ["Run", "Reason", "Message", "Created"].map((c) => h("th", {scope: "col"}, c)))),
          h("tbody", {}, data.recent_failures.map((f) => h("tr", {},
            h("td", {}, runLink(f)), h("td", {}, f.reason || ""), h("td", {}, f.message || ""),
            h("td", {class: "nowrap"}, timeEl(f.created_at))))))
          : h("div", {class: "empty"}, "No failures in this period."))));
  failureChart(chartEl, data);
}

async function load() {
  try {
    state.data = await api(`/api/v1/ui/history${query({days: state.days})}`);
  } catch (err) {
    clear(main, emptyState("Could not load the history", err.message));
    main.dataset.loaded = "1";
    return;
  }
  render();
  main.dataset.loaded = "1";
}

window.addEventListener("picidae:theme", () => state.data && render());
subscribe(throttle(() => load(), 3000));
load();
