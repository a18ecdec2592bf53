// The runs table's extras: run-field columns (id, tags, notes), primary-metric sparklines
// (one batched request per page of runs) and the name-path tree that narrows by prefix.

import {api, clear, fmtNum, h, query} from "./common.js";

// Run fields a user may add as columns besides config/summary/metrics keys: how each cell
// shows, and whether the server sorts by it.
export const RUN_COLUMNS = {
  id: {sortable: true, cell: (run) => h("code", {class: "faint", title: run.id}, run.id.slice(0, 8))},
  tags: {sortable: false, cell: (run) => (run.tags || []).map((t) =>
    h("a", {class: "tag", href: `/?where=${encodeURIComponent(`tags contains "${t}"`)}`}, t))},
  notes: {sortable: false, cell: (run) => {
    const text = typeof run.notes === "string" ? run.notes : "";
    return h("span", {class: "notes", title: text}, text.length > 80 ? `${text.slice(0, 80)}…` : text);
  }},
};

// ---- Sparklines -----------------------------------------------------------------------------

const SVG = "http://www.w3.org/2000/svg";
const SPARK_POINTS = 40;
const SPARK_W = 80;
const SPARK_H = 18;
const sparkCache = new Map();  // run id → {sig, data (null: no series)}

function svg(tag, attrs) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

/** A small line of a series ({key, steps, values, total}): svg[data-sparkline]. */
export function sparkline(data) {
  const pts = data.steps.map((s, i) => [s, data.values[i]]).filter(([, v]) => Number.isFinite(v));
  const el = svg("svg", {class: "spark", width: SPARK_W, height: SPARK_H,
    viewBox: `0 0 ${SPARK_W} ${SPARK_H}`, role: "img", "data-sparkline": data.key,
    "data-points": pts.length, "aria-label": `${data.key} over ${fmtNum(data.total)} points`});
  if (!pts.length) return el;
  const xs = pts.map((p) => p[0]);
  const ys = pts.map((p) => p[1]);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const sx = (x) => (x1 > x0 ? 1 + ((x - x0) / (x1 - x0)) * (SPARK_W - 2) : SPARK_W / 2);
  const sy = (y) => (y1 > y0 ? SPARK_H - 2 - ((y - y0) / (y1 - y0)) * (SPARK_H - 4) : SPARK_H / 2);
  const title = svg("title", {});
  title.textContent = `${data.key}: ${fmtNum(ys[0])} → ${fmtNum(ys[ys.length - 1])} ` +
    `(${fmtNum(data.total)} points)`;
  el.append(title, svg("polyline", {points: pts.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(" ")}));
  return el;
}

/**
 * Draw each run's primary-metric sparkline into cellOf(id) (its primary cell). Series are
 * fetched in one request per 200 runs, and again only when a run's latest value or status
 * changed.
 */
export async function drawSparklines(runs, cellOf) {
  const want = runs.filter((r) => r.primary_metric && r.primary_metric.name);
  const sig = (r) => `${r.status}:${JSON.stringify((r.metrics || {})[r.primary_metric.name] ?? null)}`;
  const stale = want.filter((r) => !sparkCache.has(r.id) || sparkCache.get(r.id).sig !== sig(r));
  for (let i = 0; i < stale.length; i += 200) {
    const part = stale.slice(i, i + 200);
    try {
      const body = await api(`/api/v1/ui/sparklines${query({ids: part.map((r) => r.id).join(","), points: SPARK_POINTS})}`);
      for (const r of part) sparkCache.set(r.id, {sig: sig(r), data: body.series[r.id] || null});
    } catch (err) {
      return;  // the table stands without them
    }
  }
  for (const r of want) {
    const cell = cellOf(r.id);
    const data = (sparkCache.get(r.id) || {}).data;
    if (!cell || !data) continue;
    const old = cell.querySelector("svg.spark");
    if (old) old.remove();
    cell.append(sparkline(data));
  }
}

// ---- Name tree ------------------------------------------------------------------------------

/** The where expression of runs named `prefix` or below it ("" for none). */
export function prefixWhere(prefix) {
  if (!prefix) return "";
  const lit = (s) => `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
  return `name = ${lit(prefix)} or name like ${lit(`${prefix.replace(/[\\%_]/g, "\\$&")}/%`)}`;
}

/** The runs' names as a tree of path segments; picking a node calls onpick(path). */
export class NameTree {
  constructor(onpick) {
    this.onpick = onpick;
    this.el = h("nav", {class: "name-tree", "aria-label": "Runs by name", dataset: {nameTree: ""}});
    this.whereKey = null;
    this.body = null;
  }

  async load(where, prefix) {
    if (this.whereKey !== where) {
      try {
        this.body = await api(`/api/v1/ui/name-tree${query({where})}`);
        this.whereKey = where;
      } catch (err) {
        this.el.hidden = true;
        return;
      }
    }
    this.render(prefix);
  }

  link(path, label, n, prefix) {
    return h("a", {href: `/${query({prefix: path})}`, dataset: {prefix: path},
      "aria-current": path === prefix ? "true" : null, onclick: (e) => {
        e.preventDefault();
        this.onpick(path);
      }}, h("span", {class: "seg"}, label), h("span", {class: "n"}, fmtNum(n)));
  }

  nodes(level, prefix) {
    return h("ul", {}, level.map((node) => {
      if (node.more) return h("li", {class: "faint more"}, `… ${fmtNum(node.more)} more (filter to narrow)`);
      const link = this.link(node.path, node.name, node.n, prefix);
      if (!node.children.length) return h("li", {}, link);
      const open = prefix === node.path || prefix.startsWith(`${node.path}/`);
      return h("li", {}, h("details", {open}, h("summary", {}, link), this.nodes(node.children, prefix)));
    }));
  }

  render(prefix) {
    const body = this.body;
    this.el.hidden = !body || !body.tree.length;
    if (this.el.hidden) return;
    clear(this.el, h("div", {class: "tree-head"}, this.link("", "All names", body.runs, prefix),
      body.sampled ? h("span", {class: "faint", title: "The tree is built from the newest runs"},
        ` (newest ${fmtNum(body.runs)})`) : null),
    this.nodes(body.tree, prefix));
  }
}
