// Metric charts on uPlot: step / wall-time / relative-time axis, linear or log scale, stage
// bands, drag-to-zoom that refetches the window at full detail, EMA smoothing, several series
// per chart, CSV and PNG export. Points come from the server already downsampled (min/max
// buckets keep every peak), so a 1,000,000-point series costs the browser ~1,000 points.

import {api, clear, cssVar, debounce, download, fmtNum, h, query, toast} from "./common.js";
import {aggregate, drawBands as drawGroupBands, groupLegend} from "./groups.js";

const DARK_PALETTE = ["#60a5fa", "#fb923c", "#4ade80", "#f472b6", "#a78bfa", "#22d3ee",
  "#fbbf24", "#a3e635", "#fb7185", "#818cf8"];
export const PALETTE = ["#2563eb", "#e8590c", "#2f9e44", "#c2255c", "#7048e8", "#0c8599",
  "#e67700", "#5c940d", "#a61e4d", "#364fc7"];
let firstDrawn = false;
const STAGE_FILL = ["rgba(37,99,235,0.07)", "rgba(232,89,12,0.08)", "rgba(47,158,68,0.08)",
  "rgba(112,72,232,0.08)", "rgba(12,133,153,0.08)", "rgba(194,37,92,0.07)"];

/** The i-th series colour for the current theme (brighter on dark). */
export function seriesColor(i) {
  const palette = document.documentElement.dataset.theme === "dark" ? DARK_PALETTE : PALETTE;
  return palette[i % palette.length];
}

/** Fetch one series (columns) for a chart, optionally only the [lo, hi] window of `x`. */
export async function fetchSeries(runId, key, {maxPoints = 1000, x = "step", lo, hi} = {}) {
  const path = `/api/v1/ui/series/${encodeURIComponent(runId)}/${key.split("/").map(encodeURIComponent).join("/")}`;
  return api(path + query({max_points: maxPoints, x, lo, hi}));
}

function b64ToBytes(text) {
  const raw = atob(text);
  const bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  return bytes.buffer;
}

/** Every point of a series, exactly (packed arrays), for export. */
export async function fetchFullSeries(runId, key) {
  const path = `/api/v1/runs/${encodeURIComponent(runId)}/metrics/${key.split("/").map(encodeURIComponent).join("/")}`;
  const body = await api(path + "?format=packed");
  return {
    steps: new BigInt64Array(b64ToBytes(body.steps)),
    values: new Float64Array(b64ToBytes(body.values)),
    times: new Float64Array(b64ToBytes(body.times)),
    stages: body.stages,
  };
}

function ema(values, weight) {
  // Debiased exponential moving average (as TensorBoard): early points are not pulled to 0.
  const out = new Array(values.length);
  let last = 0;
  let n = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === null || !Number.isFinite(v)) { out[i] = null; continue; }
    last = last * weight + (1 - weight) * v;
    n += 1;
    out[i] = last / (1 - Math.pow(weight, n));
  }
  return out;
}

function fmtRelative(s) {
  if (s === null || s === undefined) return "";
  const sign = s < 0 ? "−" : "";
  s = Math.abs(s);
  if (s < 60) return `${sign}${Math.round(s)}s`;
  if (s < 3600) return `${sign}${Math.floor(s / 60)}m${s % 60 >= 1 ? ` ${Math.round(s % 60)}s` : ""}`;
  const hr = Math.floor(s / 3600);
  const m = Math.round((s % 3600) / 60);
  return `${sign}${hr}h${m ? ` ${m}m` : ""}`;
}

/**
 * A set of charts sharing options. `specs` are charts: {title, series: [{runId, key, label,
 * t0}]}; options: x ("step" | "time" | "relative"), log, smoothing (0–0.99), bands.
 */
export class ChartSet {
  constructor(container, options = {}) {
    this.container = container;
    this.options = {x: "step", log: false, smoothing: 0, bands: true, ...options};
    this.charts = [];
    this.syncKey = `picidae-${Math.random().toString(36).slice(2)}`;
    this.resize = new ResizeObserver(debounce(() => this.charts.forEach((c) => c.fit()), 100));
    window.addEventListener("picidae:theme", () => this.charts.forEach((c) => c.rebuild()));
  }

  set(specs) {
    for (const chart of this.charts) chart.destroy();
    clear(this.container);
    this.charts = specs.map((spec) => new Chart(this, spec));
    for (const chart of this.charts) {
      this.container.append(chart.card);
      this.resize.observe(chart.card);
    }
    return Promise.all(this.charts.map((c) => c.load()));
  }

  setOption(name, value) {
    this.options[name] = value;
    if (name === "x") return Promise.all(this.charts.map((c) => c.load()));
    this.charts.forEach((c) => c.rebuild());
    return Promise.resolve();
  }

  /** Refetch every chart (new points of a live run), keeping each one's zoom. */
  refresh() {
    return Promise.all(this.charts.map((c) => c.load({keepZoom: true})));
  }
}

class Chart {
  constructor(set, spec) {
    this.set = set;
    this.spec = spec;
    this.data = null;   // per series: {steps, values, times, stages}
    this.window = null; // [lo, hi] in axis units when zoomed
    this.plot = null;
    this.note = h("span", {class: "chart-note"});
    this.plotEl = h("div", {class: "plot", role: "img", "aria-label": `Chart of ${spec.title}`});
    const buttons = [
      h("button", {class: "small", type: "button", title: "Show the whole series",
        onclick: () => this.resetZoom()}, "Reset zoom"),
      h("button", {class: "small", type: "button", title: "Download every point as CSV",
        onclick: () => this.exportCsv()}, "CSV"),
      h("button", {class: "small", type: "button", title: "Download the chart as PNG",
        onclick: () => this.exportPng()}, "PNG"),
    ];
    // Stable hooks (docs/ui.md): data-chart, data-key (keys joined by ","), data-points (the
    // points drawn, set on every redraw) and data-x-min/data-x-max (the x range drawn).
    const keys = spec.keys || [...new Set(spec.series.map((s) => s.key))];
    this.card = h("figure", {class: "chart-card", dataset: {chart: "", key: keys.join(","), points: "0"}},
      h("div", {class: "chart-head"}, h("span", {class: "chart-title"}, spec.title), this.note,
        buttons), this.plotEl,
      spec.groups ? h("ul", {class: "groups", "aria-label": "Groups"}, groupLegend(spec.groups, seriesColor)) : null);
    this.refine = debounce(() => this.loadWindow(), 150);
  }

  axisUnit() {
    return this.set.options.x;
  }

  async fetchAll(window) {
    const x = this.axisUnit();
    const maxPoints = Math.max(200, Math.min(4000, Math.round((this.plotEl.clientWidth || 800) * 1.5)));
    return Promise.all(this.spec.series.map((s) => {
      let lo;
      let hi;
      if (window) {
        [lo, hi] = window;
        if (x === "relative") { lo += s.t0 || 0; hi += s.t0 || 0; }
      }
      return fetchSeries(s.runId, s.key, {maxPoints, x: x === "step" ? "step" : "time", lo, hi});
    }));
  }

  async load({keepZoom = false} = {}) {
    if (!keepZoom) this.window = null;
    try {
      this.data = await this.fetchAll(this.window);
    } catch (err) {
      if (!keepZoom) clear(this.plotEl, h("p", {class: "muted"}, `Could not load: ${err.message}`));
      return;
    }
    // New points of a live run: update the drawn data in place (a rebuild would flicker and
    // drop the cursor); the bands are recomputed on every draw.
    if (keepZoom && this.plot) this.draw(false);
    else this.rebuild();
  }

  async loadWindow() {
    try {
      this.data = await this.fetchAll(this.window);
    } catch (err) {
      return;
    }
    this.draw(false);
  }

  resetZoom() {
    this.window = null;
    this.userZoom = false;
    this.load();
  }

  xOf(series, d) {
    const x = this.axisUnit();
    if (x === "step") return d.steps;
    const t0 = x === "relative" ? (series.t0 ?? d.times[0] ?? 0) : 0;
    return d.times.map((t) => t - t0);
  }

  /** uPlot's data: [x, y1, (smoothed y1), y2, ...], joined on x for several series. */
  /** Grouped: per group its mean line (± std band drawn under it) and, faint, its runs. */
  groupedTable() {
    const {log, showRuns = true} = this.set.options;
    const tables = [];
    const labels = [];
    this.groupBands = [];
    this.spec.groups.forEach((g, gi) => {
      const color = seriesColor(gi);
      const members = this.spec.series.map((s, i) => ({s, d: this.data[i]}))
        .filter(({s, d}) => s.group === gi && d.values.length);
      const curves = members.map(({s, d}) => ({xs: this.xOf(s, d),
        ys: d.values.map((v) => (v === null || (log && v <= 0) ? null : v))}));
      if (!curves.length) return;
      const agg = aggregate(curves);
      tables.push([agg.grid, agg.mean]);
      labels.push({label: `${g.name} (n=${g.runs.length})`, color, raw: false, scale: "y"});
      this.groupBands.push({...agg, color});
      if (showRuns) {
        curves.forEach((c, i) => {
          tables.push([c.xs, c.ys]);
          labels.push({label: members[i].s.label, color, raw: true, scale: "y"});
        });
      }
    });
    const data = tables.length === 1 ? tables[0] : uPlot.join(tables);
    return {data, labels};
  }

  table() {
    if (this.spec.groups) return this.groupedTable();
    const {log, smoothing} = this.set.options;
    const tables = [];
    const labels = [];
    const scales = this.scales();
    this.spec.series.forEach((s, i) => {
      const d = this.data[i];
      const xs = this.xOf(s, d);
      let ys = d.values.map((v) => (v === null || (log && v <= 0) ? null : v));
      const color = seriesColor(s.colorIndex ?? i);
      const scale = scales.get(s.key) || "y";
      if (smoothing > 0) {
        tables.push([xs, ys]);
        labels.push({label: `${s.label} (raw)`, color, raw: true, scale});
        ys = ema(ys, smoothing);
      }
      tables.push([xs, ys]);
      labels.push({label: s.label, color, raw: false, scale});
    });
    const data = tables.length === 1 ? tables[0] : uPlot.join(tables);
    return {data, labels};
  }

  /**
   * key → y scale. Keys of one magnitude share a scale; a key ten times larger or smaller
   * than the others gets its own (and its own axis), so "One chart" of loss and lr shows both.
   */
  scales() {
    const out = new Map();
    if (this.spec.groups) return out;
    const keys = [...new Set(this.spec.series.map((s) => s.key))];
    if (keys.length < 2) return out;
    const size = new Map(keys.map((k) => [k, 0]));
    this.spec.series.forEach((s, i) => {
      for (const v of this.data[i].values) {
        if (v !== null && Number.isFinite(v)) size.set(s.key, Math.max(size.get(s.key), Math.abs(v)));
      }
    });
    const groups = [];  // [{lo, hi, name}]
    for (const key of keys) {
      const m = size.get(key) || 1e-300;
      let g = groups.find((x) => Math.max(x.hi, m) / Math.min(x.lo, m) <= 10);
      if (!g) {
        g = {lo: m, hi: m, name: groups.length ? `y${groups.length + 1}` : "y"};
        groups.push(g);
      }
      g.lo = Math.min(g.lo, m);
      g.hi = Math.max(g.hi, m);
      out.set(key, g.name);
    }
    return out;
  }

  bands() {
    // Stage runs of every series, as [x0, x1, stage] in axis units; one stage's overlapping
    // runs (several keys or runs logged through it) are merged.
    if (!this.set.options.bands || !this.data) return [];
    const raw = [];
    this.spec.series.forEach((s, i) => {
      const d = this.data[i];
      if (!d || !d.values.length) return;
      const xs = this.xOf(s, d);
      const runs = d.stages || [];
      runs.forEach(([start, stage], j) => {
        const end = j + 1 < runs.length ? runs[j + 1][0] : xs.length;
        if (!stage || end <= start) return;
        const x1 = end < xs.length ? xs[end] : xs[xs.length - 1];
        raw.push([xs[start], x1, stage]);
      });
    });
    raw.sort((a, b) => (a[2] < b[2] ? -1 : a[2] > b[2] ? 1 : a[0] - b[0]));
    const out = [];
    for (const band of raw) {
      const last = out[out.length - 1];
      if (last && last[2] === band[2] && band[0] <= last[1]) last[1] = Math.max(last[1], band[1]);
      else out.push([...band]);
    }
    return out.sort((a, b) => a[0] - b[0]);
  }

  drawBands(u, text) {
    const bands = this.bands();
    if (!bands.length) return;
    const stageNames = [...new Set(bands.map((b) => b[2]))];
    const ctx = u.ctx;
    const px = devicePixelRatio || 1;
    ctx.save();
    ctx.font = `${11 * px}px system-ui, sans-serif`;
    ctx.textBaseline = "top";
    ctx.textAlign = "left";  // uPlot leaves the y axis' alignment ("right") on the context
    for (const [x0, x1, stage] of bands) {
      const l = Math.max(u.valToPos(x0, "x", true), u.bbox.left);
      const r = Math.min(u.valToPos(x1, "x", true), u.bbox.left + u.bbox.width);
      if (r <= l) continue;
      ctx.fillStyle = STAGE_FILL[stageNames.indexOf(stage) % STAGE_FILL.length];
      ctx.fillRect(l, u.bbox.top, r - l, u.bbox.height);
      ctx.fillStyle = text;
      if (r - l > 40 * px) ctx.fillText(stage, l + 4 * px, u.bbox.top + 3 * px);
    }
    ctx.restore();
  }

  options(width) {
    const {log} = this.set.options;
    const unit = this.axisUnit();
    const {labels} = this.tableCache;
    const text = cssVar("--muted");
    const grid = cssVar("--grid");
    const axis = {stroke: text, grid: {stroke: grid, width: 1}, ticks: {stroke: grid, width: 1}};
    const scaleNames = [...new Set(labels.map((l) => l.scale))];
    const many = scaleNames.length > 1;
    const scales = {x: {time: unit === "time"}};
    for (const name of scaleNames) scales[name] = log ? {distr: 3} : {};
    const yAxes = scaleNames.map((name, i) => {
      const first = labels.find((l) => l.scale === name && !l.raw);
      return {...axis, scale: name, size: 56, side: i % 2 ? 1 : 3,
        grid: i ? {show: false} : axis.grid,
        ...(many ? {stroke: first.color,
          label: labels.filter((l) => l.scale === name && !l.raw).map((l) => l.label).join(", "),
          labelSize: 16, labelFont: "11px system-ui, sans-serif"} : {}),
        values: (u, splits) => splits.map((v) => fmtNum(v))};
    });
    return {
      width,
      height: 220,
      padding: [10, many ? 4 : 20, 0, 4],
      cursor: {sync: {key: `${this.set.syncKey}-${unit}`}, drag: {x: true, y: false},
        bind: {
          dblclick: () => () => { this.resetZoom(); return null; },
          // A zoom is the user's drag, never uPlot fitting its scales to new data: only
          // then does the chart keep a window (else a live chart would stay at its first
          // steps) and refetch it at full detail.
          mouseup: (u, target, handler) => (e) => {
            if (u.select.width > 0) this.userZoom = true;
            return handler(e);
          },
        }},
      scales,
      legend: {live: true},
      axes: [
        {...axis, ...(unit === "relative" ? {values: (u, splits) => splits.map(fmtRelative)} : {})},
        ...yAxes,
      ],
      series: [
        {label: unit === "step" ? "step" : "time",
          value: unit === "relative" ? (u, v) => fmtRelative(v) : (unit === "step" ? (u, v) => fmtNum(v) : undefined)},
        ...labels.map((l) => ({
          label: l.label, scale: l.scale, stroke: l.raw ? `${l.color}44` : l.color, width: l.raw ? 1 : 1.5,
          points: {size: 5, fill: l.color}, spanGaps: false, value: (u, v) => fmtNum(v),
        })),
      ],
      hooks: {
        drawClear: [(u) => {
          this.drawBands(u, text);
          if (this.spec.groups) drawGroupBands(u, this.groupBands || []);
        }],
        draw: [(u) => this.drawn(u)],
        setScale: [(u, key) => {
          if (key !== "x" || !this.userZoom) return;
          this.userZoom = false;
          const {min, max} = u.scales.x;
          if (min === null || max === null) return;
          this.window = [min, max];
          this.refine();
        }],
      },
    };
  }

  /** After every redraw: the hooks say what is drawn now. */
  drawn(u) {
    const xs = u.data[0] || [];
    const {min, max} = u.scales.x;
    let points = 0;
    for (let i = 0; i < xs.length; i++) {
      if (xs[i] === null || (min !== null && (xs[i] < min || xs[i] > max))) continue;
      for (let s = 1; s < u.data.length; s++) if (u.data[s][i] !== null && u.data[s][i] !== undefined) points++;
    }
    const ds = this.card.dataset;
    ds.points = String(points);
    ds.xMin = String(min);
    ds.xMax = String(max);
    ds.drawn = "1";
  }

  rebuild() {
    if (!this.data) return;
    if (this.plot) { this.plot.destroy(); this.plot = null; }
    clear(this.plotEl);
    this.draw(true);
  }

  draw(create) {
    const total = this.data.reduce((n, d) => n + d.total, 0);
    const shown = this.data.reduce((n, d) => n + d.values.length, 0);
    this.note.textContent = total > shown ? `${fmtNum(shown)} of ${fmtNum(total)} points` : `${fmtNum(total)} points`;
    this.note.title = total > shown ? "Downsampled on the server keeping every peak; zoom in for detail" : "";
    if (!shown) {
      clear(this.plotEl, h("p", {class: "muted"}, "No points yet."));
      if (this.plot) { this.plot.destroy(); this.plot = null; }
      this.card.dataset.points = "0";
      return;
    }
    const scalesBefore = this.tableCache && JSON.stringify(this.tableCache.labels.map((l) => l.scale));
    this.tableCache = this.table();
    const sameScales = scalesBefore === JSON.stringify(this.tableCache.labels.map((l) => l.scale));
    if (create || !this.plot || !sameScales) {
      if (this.plot) this.plot.destroy();
      clear(this.plotEl);
      this.plot = new uPlot(this.options(this.width()), this.tableCache.data, this.plotEl);
      if (this.window) this.plot.setScale("x", {min: this.window[0], max: this.window[1]});
    } else {
      this.plot.setData(this.tableCache.data, !this.window);
      if (this.window) this.plot.setScale("x", {min: this.window[0], max: this.window[1]});
    }
    if (!firstDrawn) {
      // For benchmarks/ui.py: navigation start → first chart drawn.
      firstDrawn = true;
      performance.mark("picidae:first-chart");
    }
  }

  width() {
    return Math.max(280, Math.floor(this.plotEl.clientWidth || this.card.clientWidth - 16 || 600));
  }

  fit() {
    if (this.plot) this.plot.setSize({width: this.width(), height: 220});
  }

  destroy() {
    if (this.plot) this.plot.destroy();
    this.plot = null;
  }

  async exportCsv() {
    const rows = [];
    const many = this.spec.series.length > 1;
    rows.push(many ? "run_id,key,step,value,time,stage" : "step,value,time,stage");
    for (const s of this.spec.series) {
      const d = await fetchFullSeries(s.runId, s.key);
      const prefix = many ? `${s.runId},${csvCell(s.key)},` : "";
      for (let i = 0; i < d.values.length; i++) {
        rows.push(`${prefix}${d.steps[i]},${d.values[i]},${d.times[i]},${csvCell(d.stages[i] ?? "")}`);
      }
    }
    const name = `${this.spec.fileName || this.spec.title}`.replace(/[^\w.-]+/g, "_");
    download(`${name}.csv`, new Blob([rows.join("\n") + "\n"], {type: "text/csv"}));
    toast(`Exported ${fmtNum(rows.length - 1)} points`);
  }

  exportPng() {
    if (!this.plot) return;
    const src = this.plot.ctx.canvas;
    const ratio = devicePixelRatio || 1;
    const head = 28 * ratio;
    const out = document.createElement("canvas");
    out.width = src.width;
    out.height = src.height + head;
    const ctx = out.getContext("2d");
    ctx.fillStyle = cssVar("--panel") || "#fff";
    ctx.fillRect(0, 0, out.width, out.height);
    ctx.fillStyle = cssVar("--text") || "#000";
    ctx.font = `600 ${13 * ratio}px system-ui, sans-serif`;
    ctx.fillText(this.spec.title, 8 * ratio, 18 * ratio);
    ctx.drawImage(src, 0, head);
    out.toBlob((blob) => {
      const name = `${this.spec.fileName || this.spec.title}`.replace(/[^\w.-]+/g, "_");
      download(`${name}.png`, blob);
    }, "image/png");
  }
}

function csvCell(text) {
  const s = String(text);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** The toolbar every chart set shares: axis, scale, smoothing, stage bands. */
export function chartControls(set, extra = []) {
  const axis = h("select", {"aria-label": "X axis", onchange: (e) => set.setOption("x", e.target.value)},
    h("option", {value: "step"}, "Step"), h("option", {value: "time"}, "Wall time"),
    h("option", {value: "relative"}, "Relative time"));
  axis.value = set.options.x;
  const scale = h("select", {"aria-label": "Y scale", onchange: (e) => set.setOption("log", e.target.value === "log")},
    h("option", {value: "linear"}, "Linear"), h("option", {value: "log"}, "Log"));
  scale.value = set.options.log ? "log" : "linear";
  const smoothValue = h("span", {class: "mono"}, String(set.options.smoothing));
  const smooth = h("input", {type: "range", min: "0", max: "0.99", step: "0.01",
    value: String(set.options.smoothing), "aria-label": "Smoothing",
    oninput: debounce((e) => {
      smoothValue.textContent = e.target.value;
      set.setOption("smoothing", Number(e.target.value));
    }, 60)});
  const bands = h("input", {type: "checkbox", onchange: (e) => set.setOption("bands", e.target.checked)});
  bands.checked = set.options.bands;
  return h("div", {class: "chart-controls"},
    h("label", {}, "X axis", axis), h("label", {}, "Scale", scale),
    h("label", {}, "Smoothing", smooth, smoothValue),
    h("label", {class: "check"}, bands, "Stage bands"), ...extra,
    h("span", {class: "faint", style: {marginLeft: "auto", fontSize: "12px"}},
      "Drag to zoom"));
}
