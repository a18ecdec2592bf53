// A sweep's parent page (kind "sweep"): its trials sorted by value (best first), the value over
// trials with the best so far, and parallel coordinates of the parameters against the value.
// Hooks: table[data-trials] with one row [data-run-id] per trial in rank order (data-value);
// [data-chart="trials"] and [data-chart="parallel"] with data-key=METRIC and data-points.

import {badge, cssVar, flatten, fmtNum, fmtValue, h, runLink} from "./common.js";
import {H, PAD, axisOf, canvas, parallel, plotFrame} from "./sweep.js";

/** The sweep's parameter names, from its config (`params`: ["lr=loguniform:…", …]). */
function paramNames(run) {
  const params = (run.config || {}).params;
  return Array.isArray(params) ? params.map((p) => String(p).split("=")[0]) : [];
}

/** A trial's value: the latest value of the metric, else its summary's. */
function valueOf(kid, metric) {
  const v = (kid.metrics || {})[metric] ?? flatten(kid.summary || {})[metric];
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}

function trialsChart(el, trials, metric, mode) {
  const pts = trials.filter((t) => t.status === "completed" && t.value !== null);
  el.dataset.points = String(pts.length);
  if (!pts.length) {
    el.append(h("p", {class: "muted"}, "No trial has completed with a value yet."));
    return;
  }
  const ctx = canvas(el);
  const xa = axisOf([1, Math.max(2, ...trials.map((t) => t.number))]);
  const ya = axisOf(pts.map((p) => p.value));
  const {pw, ph, X, Y} = plotFrame(ctx, xa, ya);
  for (const t of xa.ticks.filter(Number.isInteger)) ctx.fillText(String(t), X(t), PAD.top + ph + 4);
  ctx.fillText("trial", PAD.left + pw / 2, H - 14);
  // The best so far, as a step line; each completed trial as a dot.
  const better = (a, b) => (mode === "min" ? a < b : a > b);
  let best = null;
  ctx.strokeStyle = cssVar("--accent") || "#e8590c";
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  for (const p of [...pts].sort((a, b) => a.number - b.number)) {
    if (best === null) { best = p.value; ctx.moveTo(X(p.number), Y(best)); continue; }
    ctx.lineTo(X(p.number), Y(best));
    if (better(p.value, best)) { best = p.value; ctx.lineTo(X(p.number), Y(best)); }
  }
  ctx.lineTo(X(Math.max(...trials.map((t) => t.number))), Y(best));
  ctx.stroke();
  ctx.fillStyle = "rgb(37,99,235)";
  for (const p of pts) {
    ctx.beginPath();
    ctx.arc(X(p.number), Y(p.value), 4, 0, 2 * Math.PI);
    ctx.fill();
  }
}

/** The trials panel of a sweep parent, for its children `kids` (oldest first). */
export function trialsPanel(run, kids) {
  const pm = run.primary_metric || {};
  const metric = pm.name || (run.config || {}).metric;
  if (!metric) return null;
  const mode = pm.mode || (run.config || {}).mode || "max";
  const names = paramNames(run);
  const trials = kids.map((kid, i) => ({...kid, number: i + 1, value: valueOf(kid, metric)}));
  // Completed trials by value (best first), then the others in trial order.
  const ranked = (t) => t.status === "completed" && t.value !== null;
  const sorted = [...trials].sort((a, b) => (ranked(b) - ranked(a))
    || (ranked(a) ? (mode === "min" ? a.value - b.value : b.value - a.value) : a.number - b.number));
  const table = h("table", {class: "runs", dataset: {trials: String(trials.length)}},
    h("thead", {}, h("tr", {}, ["#", "Status", "Name", metric, ...names].map((c, i) =>
      h("th", {scope: "col", class: i === 0 || i >= 3 ? "num" : ""}, c)))),
    h("tbody", {}, sorted.map((t) => h("tr", {dataset: {runId: t.id, value: t.value ?? ""}},
      h("td", {class: "num"}, String(t.number)), h("td", {}, badge(t.status)),
      h("td", {class: "nowrap"}, runLink(t, t.name.startsWith(`${run.name}/`) ? t.name.slice(run.name.length + 1) : t.name)),
      h("td", {class: "num"}, fmtNum(t.value)),
      names.map((n) => h("td", {class: "num"}, fmtValue(flatten(t.config || {})[n])))))));
  const chart = h("figure", {class: "chart-card", dataset: {chart: "trials", key: metric}},
    h("div", {class: "chart-head"}, h("span", {class: "chart-title"}, `${metric} over trials (line: the best so far)`)));
  const coords = h("figure", {class: "chart-card", dataset: {chart: "parallel", key: metric, keys: names.join(",")}},
    h("div", {class: "chart-head"}, h("span", {class: "chart-title"}, `Parallel coordinates: ${names.join(", ")} → ${metric}`)));
  const done = trials.filter((t) => t.status === "completed" && t.value !== null)
    .map((t) => ({...t, metrics: {[metric]: t.value}}));
  requestAnimationFrame(() => {
    trialsChart(chart, trials, metric, mode);
    parallel(coords, done, names, metric);
  });
  const summary = run.summary || {};
  const counts = ["completed", "pruned", "failed", "running"]
    .map((k) => `${summary[`trials_${k}`] ?? 0} ${k}`).join(", ");
  return h("section", {class: "panel", id: "trials", "aria-label": "Trials"},
    h("div", {class: "panel-head"}, h("h2", {}, "Trials"), h("span", {class: "muted"},
      `${trials.length} of ${(run.config || {}).trials ?? "?"} (${counts}); best ${fmtNum(summary.best_value)} (${mode})`)),
    h("div", {class: "panel-body"}, h("div", {class: "sweep-plots"}, chart, coords),
      h("div", {class: "table-wrap"}, table)));
}
