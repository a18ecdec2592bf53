// Sweep analysis on the compare page: a scatter of any config key against any final metric,
// and parallel coordinates of the config keys that vary against a chosen metric. Drawn on a
// canvas; hooks: [data-chart="scatter"|"parallel"][data-key=METRIC] with data-points. A sweep's own
// page (trials.js) draws its parallel coordinates with the same code.

import {cssVar, flatten, fmtNum, fmtValue, h} from "./common.js";
import {seriesColor} from "./charts.js";

export const W = 560;
export const H = 300;
export const PAD = {left: 56, right: 16, top: 16, bottom: 40};

export function niceTicks(lo, hi, count = 5) {
  if (lo === hi) { lo -= 1; hi += 1; }
  const raw = (hi - lo) / count;
  const pow = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * pow).find((s) => s >= raw);
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

/** An axis over the values of one field: numeric (linear) or categorical (evenly spaced). */
export function axisOf(values) {
  const numeric = values.every((v) => typeof v === "number" && Number.isFinite(v));
  if (numeric) {
    const lo = Math.min(...values);
    const hi = Math.max(...values);
    const span = hi - lo || Math.abs(hi) || 1;
    const min = lo - span * 0.05;
    const max = hi + span * 0.05;
    return {pos: (v) => (v - min) / (max - min), ticks: niceTicks(min, max).filter((t) => t >= min && t <= max),
      label: fmtNum};
  }
  const cats = [...new Set(values.map(fmtValue))].sort(new Intl.Collator("en", {numeric: true}).compare);
  return {pos: (v) => (cats.indexOf(fmtValue(v)) + 0.5) / cats.length, ticks: cats, label: String,
    categorical: true};
}

export function canvas(el) {
  const ratio = devicePixelRatio || 1;
  const c = h("canvas", {width: String(W * ratio), height: String(H * ratio)});
  c.style.width = `${W}px`;
  c.style.height = `${H}px`;
  el.append(c);
  const ctx = c.getContext("2d");
  ctx.scale(ratio, ratio);
  ctx.font = "11px system-ui, sans-serif";
  return ctx;
}

/** The plot area of a W×H canvas for axes ``xa`` and ``ya``: draws the y gridlines and their
 * labels, leaves the context set for x labels (centred, below), and returns the area's
 * width and height and the value → pixel maps. */
export function plotFrame(ctx, xa, ya) {
  const pw = W - PAD.left - PAD.right;
  const ph = H - PAD.top - PAD.bottom;
  const X = (v) => PAD.left + xa.pos(v) * pw;
  const Y = (v) => PAD.top + (1 - ya.pos(v)) * ph;
  ctx.strokeStyle = cssVar("--grid");
  ctx.fillStyle = cssVar("--muted");
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  for (const t of ya.ticks) {
    ctx.beginPath(); ctx.moveTo(PAD.left, Y(t)); ctx.lineTo(PAD.left + pw, Y(t)); ctx.stroke();
    ctx.fillText(ya.label(t), PAD.left - 6, Y(t));
  }
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  return {pw, ph, X, Y};
}

/** A colour from low (first palette colour) to high (second) for a value in [0, 1]. */
export function ramp(t) {
  const a = [37, 99, 235];
  const b = [232, 89, 12];
  const c = a.map((x, i) => Math.round(x + (b[i] - x) * t));
  return `rgb(${c.join(",")})`;
}

/** Runs with a value of both `configKey` and `metric`: [{run, x, y}]. */
function pairs(runs, configKey, metric) {
  return runs.map((run) => ({run, x: flatten(run.config)[configKey], y: (run.metrics || {})[metric]}))
    .filter((p) => p.x !== undefined && p.x !== null && typeof p.y === "number" && Number.isFinite(p.y));
}

function scatter(el, runs, configKey, metric) {
  const pts = pairs(runs, configKey, metric);
  el.dataset.points = String(pts.length);
  if (!pts.length) {
    el.append(h("p", {class: "muted"}, `No run has both ${configKey} and ${metric}.`));
    return;
  }
  const ctx = canvas(el);
  const xa = axisOf(pts.map((p) => p.x));
  const ya = axisOf(pts.map((p) => p.y));
  const {pw, ph, X, Y} = plotFrame(ctx, xa, ya);
  for (const t of xa.ticks) {
    ctx.beginPath(); ctx.moveTo(X(t), PAD.top); ctx.lineTo(X(t), PAD.top + ph); ctx.stroke();
    ctx.fillText(xa.label(t), X(t), PAD.top + ph + 4);
  }
  ctx.fillText(configKey, PAD.left + pw / 2, H - 14);
  for (const [i, p] of pts.entries()) {
    ctx.fillStyle = seriesColor(i);
    ctx.beginPath();
    ctx.arc(X(p.x), Y(p.y), 5, 0, 2 * Math.PI);
    ctx.fill();
  }
  el.append(h("ul", {class: "groups"}, pts.map((p, i) => h("li", {dataset: {runId: p.run.id}},
    h("i", {class: "swatch", style: {background: seriesColor(i)}}),
    h("a", {href: `/runs/${encodeURIComponent(p.run.id)}`}, p.run.name), ` ${fmtValue(p.x)} → ${fmtNum(p.y)}`))));
}

export function parallel(el, runs, keys, metric) {
  const having = runs.filter((r) => typeof (r.metrics || {})[metric] === "number");
  el.dataset.points = String(having.length);
  if (!having.length || !keys.length) {
    el.append(h("p", {class: "muted"}, "Needs runs with the metric and config keys that vary."));
    return;
  }
  const ctx = canvas(el);
  const dims = [...keys, metric];
  const axes = dims.map((d, i) => axisOf(having.map((r) => (i < keys.length ? flatten(r.config)[d] : r.metrics[metric]) ?? "—")));
  const ph = H - PAD.top - PAD.bottom;
  const X = (i) => PAD.left + i * (W - PAD.left - 80) / Math.max(1, dims.length - 1);  // room for the last axis' labels
  const Y = (i, v) => PAD.top + (1 - axes[i].pos(v)) * ph;
  const ys = having.map((r) => r.metrics[metric]);
  const lo = Math.min(...ys);
  const hi = Math.max(...ys);
  ctx.lineWidth = 1.5;
  for (const run of having) {
    ctx.strokeStyle = ramp(hi > lo ? (run.metrics[metric] - lo) / (hi - lo) : 0.5);
    ctx.beginPath();
    dims.forEach((d, i) => {
      const v = (i < keys.length ? flatten(run.config)[d] : run.metrics[metric]) ?? "—";
      if (i) ctx.lineTo(X(i), Y(i, v)); else ctx.moveTo(X(i), Y(i, v));
    });
    ctx.stroke();
  }
  ctx.strokeStyle = cssVar("--muted");
  ctx.fillStyle = cssVar("--muted");
  ctx.lineWidth = 1;
  dims.forEach((d, i) => {
    ctx.beginPath(); ctx.moveTo(X(i), PAD.top); ctx.lineTo(X(i), PAD.top + ph); ctx.stroke();
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    ctx.fillText(d, X(i), PAD.top + ph + 6);
    ctx.textAlign = "left";
    ctx.textBaseline = "middle";
    for (const t of axes[i].ticks) ctx.fillText(axes[i].label(t), X(i) + 4, Y(i, t));
  });
}

/** The sweep-analysis panel for the compared runs (null when fewer than two). */
export function sweepPanel(runs) {
  if (runs.length < 2) return null;
  const metrics = [...new Set(runs.flatMap((r) => Object.keys(r.metrics || {})))].sort();
  const configs = [...new Set(runs.flatMap((r) => Object.keys(flatten(r.config))))].sort();
  const varying = configs.filter((k) => new Set(runs.map((r) => JSON.stringify(flatten(r.config)[k] ?? null))).size > 1);
  if (!metrics.length || !configs.length) return null;
  const pick = (label, options, value) => {
    const sel = h("select", {"aria-label": label}, options.map((o) => h("option", {value: o}, o)));
    sel.value = value;
    return sel;
  };
  const primary = runs.map((r) => r.primary_metric && r.primary_metric.name).find((m) => metrics.includes(m));
  const metric = pick("Metric", metrics, primary || metrics.find((m) => !m.startsWith("system/")) || metrics[0]);
  const xKey = pick("Config key", configs, varying[0] || configs[0]);
  const plots = h("div", {class: "sweep-plots"});
  const draw = () => {
    const sc = h("figure", {class: "chart-card", dataset: {chart: "scatter", key: metric.value, xKey: xKey.value}},
      h("div", {class: "chart-head"}, h("span", {class: "chart-title"}, `${metric.value} against ${xKey.value}`)));
    const pc = h("figure", {class: "chart-card", dataset: {chart: "parallel", key: metric.value, keys: varying.join(",")}},
      h("div", {class: "chart-head"}, h("span", {class: "chart-title"}, `Parallel coordinates: ${varying.length ? varying.join(", ") : "no varying config key"} → ${metric.value}`)));
    plots.replaceChildren(sc, pc);
    scatter(sc, runs, xKey.value, metric.value);
    parallel(pc, runs, varying, metric.value);
  };
  metric.addEventListener("change", draw);
  xKey.addEventListener("change", draw);
  const panel = h("section", {class: "panel", id: "sweep", "aria-label": "Sweep analysis"},
    h("div", {class: "panel-head"}, h("h2", {}, "Sweep analysis"), h("span", {class: "muted"}, "final values"),
      h("span", {class: "spacer"}), h("label", {}, "Metric ", metric), h("label", {}, "Config key ", xKey)),
    h("div", {class: "panel-body"}, plots));
  requestAnimationFrame(draw);
  return panel;
}
