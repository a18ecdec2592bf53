// Grouped charts: each group of runs drawn as its mean line with a ± std band (the runs
// themselves faint behind it), and a [data-group] legend entry per group with n and the
// mean ± std of the group's last values of the charted key.

import {fmtMeanStd, fmtNum, groupRuns, h, meanStd} from "./common.js";

const MAX_GRID = 600;

/** A run's value at x, linearly interpolated; null outside its range or next to a gap. */
function valueAt(xs, ys, x) {
  if (!xs.length || x < xs[0] || x > xs[xs.length - 1]) return null;
  let lo = 0;
  let hi = xs.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (xs[mid] <= x) lo = mid; else hi = mid;
  }
  if (xs[lo] === x) return ys[lo];
  if (xs[hi] === x) return ys[hi];
  if (ys[lo] === null || ys[hi] === null) return null;
  return ys[lo] + (ys[hi] - ys[lo]) * (x - xs[lo]) / (xs[hi] - xs[lo]);
}

/** The x values a group's curves are averaged at: every x any run has, or (when that is too
 * many, as for long downsampled series) an even grid over their range. */
function gridOf(curves) {
  const all = new Set();
  for (const c of curves) for (const x of c.xs) all.add(x);
  const xs = [...all].sort((a, b) => a - b);
  if (xs.length <= MAX_GRID * 2) return xs;
  const lo = xs[0];
  const hi = xs[xs.length - 1];
  return Array.from({length: MAX_GRID}, (_, i) => lo + (hi - lo) * i / (MAX_GRID - 1));
}

/** Mean and ± std curves of `curves` ([{xs, ys}]) on their common grid. */
export function aggregate(curves) {
  const grid = gridOf(curves);
  const mean = [];
  const lo = [];
  const hi = [];
  for (const x of grid) {
    const s = meanStd(curves.map((c) => valueAt(c.xs, c.ys, x)));
    mean.push(s.mean);
    lo.push(s.n ? s.mean - s.std : null);
    hi.push(s.n ? s.mean + s.std : null);
  }
  return {grid, mean, lo, hi};
}

/** Fill each group's band (between lo and hi) under the lines. */
export function drawBands(u, bands, scale = "y") {
  const ctx = u.ctx;
  ctx.save();
  ctx.beginPath();
  ctx.rect(u.bbox.left, u.bbox.top, u.bbox.width, u.bbox.height);
  ctx.clip();
  for (const band of bands) {
    ctx.fillStyle = `${band.color}2e`;
    let i = 0;
    while (i < band.grid.length) {
      while (i < band.grid.length && band.lo[i] === null) i++;
      const start = i;
      while (i < band.grid.length && band.lo[i] !== null) i++;
      if (i - start < 1) continue;
      ctx.beginPath();
      for (let j = start; j < i; j++) {
        const x = u.valToPos(band.grid[j], "x", true);
        const y = u.valToPos(band.hi[j], scale, true);
        if (j === start) ctx.moveTo(x, y); else ctx.lineTo(x, y);
      }
      for (let j = i - 1; j >= start; j--) ctx.lineTo(u.valToPos(band.grid[j], "x", true), u.valToPos(band.lo[j], scale, true));
      ctx.closePath();
      ctx.fill();
    }
  }
  ctx.restore();
}

/** The [data-group] legend: per group its name, n and mean ± std of its last values. */
export function groupLegend(groups, color) {
  return groups.map((g, i) => {
    const s = meanStd(g.runs.map((r) => r.last));
    return h("li", {dataset: {group: "", name: g.name, n: String(g.runs.length),
      mean: s.mean === null ? "" : String(s.mean), std: s.std === null ? "" : String(s.std)},
    title: `${g.runs.length} runs; last values ${s.n ? `${fmtNum(s.mean)} ± ${fmtNum(s.std)}` : "—"}`},
    h("i", {class: "swatch", style: {background: color(i)}}), h("b", {}, g.name),
    h("span", {class: "faint"}, ` n=${g.runs.length} `), s.n ? fmtMeanStd(s) : "—");
  });
}

/** One chart per key with a mean ± std line per group of the runs that have the key. */
export function groupedSpecs(runs, keys, field, labels, prefix) {
  return keys.map((key) => {
    const having = runs.map((run, i) => ({run, label: labels[i]})).filter(({run}) => key in (run.metrics || {}));
    const groups = groupRuns(having.map((x) => x.run), field);
    return {
      title: `${key} by ${field}`, keys: [key], fileName: `${prefix}-${key}-by-${field}`,
      groups: groups.map((g) => ({name: g.name, runs: g.runs.map((r) => ({id: r.id, last: r.metrics[key]}))})),
      series: groups.flatMap((g, gi) => g.runs.map((run) => ({runId: run.id, key, group: gi,
        label: having.find((x) => x.run === run).label, t0: run.started_at || run.created_at}))),
    };
  });
}
