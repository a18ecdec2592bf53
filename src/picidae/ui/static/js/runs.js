// The runs page: filter (where language), status facets, sortable columns (plus the user's own
// from config, summary and metrics), parents expandable to their children with mean ± std,
// cursor paging, selection for compare, live updates.

import {
  INIT_SNIPPET, api, badge, boot, clear, columnValue, emptyState, flatten, fmtDuration, fmtMeanStd, fmtNum,
  fmtValue, groupByBox, groupRuns, h, meanStd, parentPrimary, query, runLink, STATES, subscribe,
  throttle, timeEl,
} from "./common.js";
import {NameTree, RUN_COLUMNS, drawSparklines, prefixWhere} from "./runsextras.js";

const url = new URL(location.href);
const savedCols = (() => {
  try { return JSON.parse(localStorage.getItem("picidae.columns") || "[]"); } catch (e) { return []; }
})();

const state = {
  where: url.searchParams.get("where") ?? boot.where ?? "",
  statuses: (url.searchParams.get("status") || "").split(",").filter(Boolean),
  order: url.searchParams.get("order_by") || "",
  cols: url.searchParams.has("cols")
    ? url.searchParams.get("cols").split(",").filter(Boolean) : savedCols,
  top: url.searchParams.has("top") ? url.searchParams.get("top") === "1" : null,
  limit: Number(url.searchParams.get("limit")) || 50,
  groupBy: url.searchParams.get("group_by") || "",
  prefix: url.searchParams.get("prefix") || "",  // the name tree's pick
  cursors: [null],
  page: 0,
  total: null,
  runs: [],
  expanded: new Set(),
  selected: new Map(),
  flash: new Set(),
};

// Fixed columns: [id, header, order_by field]. "best" is the server's best-run order: each
// run by its own primary metric and mode, best first, over every run (not only this page).
const FIXED = [
  ["status", "Status", "status"],
  ["name", "Name", "name"],
  ["alias", "Alias", "alias"],
  ["kind", "Kind", "kind"],
  ["agent", "Agent", "agent"],
  ["created", "Created", "created_at"],
  ["duration", "Duration", "duration_s"],
  ["primary", "Primary metric (best)", "best"],
];

const main = document.getElementById("main");
const input = h("input", {type: "search", name: "where", id: "where", autocomplete: "off",
  spellcheck: "false", value: state.where, "aria-label": "Filter runs (where expression)",
  "aria-describedby": "filter-error",
  placeholder: 'config.lr = 0.01 and metrics.acc > 0.9 and tags contains "ablation"'});
const errorBox = h("div", {class: "filter-error", id: "filter-error", role: "alert", hidden: true});
const count = h("span", {class: "count", "aria-live": "polite"});
const compareButton = h("button", {type: "button", disabled: true, onclick: openCompare},
  "Compare");
const facetsEl = h("div", {class: "facets", role: "group", "aria-label": "Filter by status"});
const topBox = h("input", {type: "checkbox", id: "top-only", onchange: (e) => {
  state.top = e.target.checked;
  restart();
}});
const colInput = h("input", {type: "text", list: "col-suggestions", placeholder: "config.lr",
  "aria-label": "Add a column (config.KEY, summary.KEY, metrics.KEY, id, tags or notes)", size: 18});
const colList = h("datalist", {id: "col-suggestions"});
const table = h("table", {class: "runs"});
const tableBox = h("div", {class: "table-wrap"}, table);
const pager = h("div", {class: "pager"});
const groupSlot = h("span", {});  // "Group by", filled once runs are listed
const tree = new NameTree((prefix) => {
  state.prefix = prefix;
  restart(true);
});

main.append(
  h("div", {class: "page-head"}, h("h1", {}, "Runs"), count,
    h("form", {class: "filter", role: "search", action: "/", method: "get", onsubmit: (e) => {
      e.preventDefault();
      state.where = input.value.trim();
      state.top = null;
      restart(true);
    }}, input, h("button", {class: "primary", type: "submit"}, "Filter"),
    h("button", {type: "button", onclick: () => {
      input.value = "";
      state.where = "";
      state.statuses = [];
      state.top = null;
      state.prefix = "";
      restart(true);
    }}, "Clear")),
    compareButton),
  errorBox, facetsEl, h("div", {class: "runs-layout"}, tree.el,
  h("div", {class: "panel"},
    h("div", {class: "panel-head"},
      h("label", {class: "check", for: "top-only"}, topBox, "Top-level only"),
      h("span", {class: "faint", id: "nest-hint"}),
      h("span", {class: "spacer"}),
      groupSlot,
      h("form", {class: "columns-editor", onsubmit: (e) => {
        e.preventDefault();
        addColumn(colInput.value.trim());
        colInput.value = "";
      }}, colInput, colList, h("button", {type: "submit", class: "small"}, "+ Column"))),
    tableBox, pager)));

document.addEventListener("keydown", (e) => {
  if (e.key === "/" && document.activeElement === document.body) {
    e.preventDefault();
    input.focus();
  }
});

function topOnly() {
  // Nesting shows top-level runs with their children underneath; a filter matches any run.
  if (state.where) return false;
  return state.top === null ? true : state.top;
}

function baseWhere() {
  return state.where || (topOnly() ? "parent_id is null" : "");
}

function listParams(extra = {}) {
  const where = [baseWhere(), prefixWhere(state.prefix)].filter(Boolean);
  return {where: where.length > 1 ? where.map((w) => `(${w})`).join(" and ") : where[0] || "",
    order_by: state.order, ...extra};
}

function syncUrl(push) {
  const q = {where: state.where, status: state.statuses.join(","), order_by: state.order,
    cols: state.cols.join(","), top: state.top === null ? "" : (state.top ? "1" : "0"),
    limit: state.limit === 50 ? "" : state.limit, group_by: state.groupBy, prefix: state.prefix};
  const next = `/${query(q)}`;
  if (next !== location.pathname + location.search) {
    history[push ? "pushState" : "replaceState"](null, "", next);
  }
}

window.addEventListener("popstate", () => location.reload());

function restart(push = false) {
  state.cursors = [null];
  state.page = 0;
  state.expanded.clear();
  syncUrl(push);
  load();
}

function addColumn(path) {
  if (!path) return;
  if (!/^(config|summary|metrics)\..+/.test(path) && !RUN_COLUMNS[path]) {
    showError("A column is config.KEY, summary.KEY, metrics.KEY, id, tags or notes, e.g. config.lr");
    return;
  }
  if (!state.cols.includes(path)) state.cols.push(path);
  saveCols();
  render();
}

function removeColumn(path) {
  state.cols = state.cols.filter((c) => c !== path);
  if (state.order.startsWith(`${path} `) || state.order === path) state.order = "";
  saveCols();
  render();
}

function saveCols() {
  try { localStorage.setItem("picidae.columns", JSON.stringify(state.cols)); } catch (e) { /* */ }
  syncUrl(false);
}

function showError(message) {
  if (!message) {
    errorBox.hidden = true;
    input.removeAttribute("aria-invalid");
    return;
  }
  clear(errorBox, h("strong", {}, "Filter error"), h("pre", {class: "mono"}, message));
  errorBox.hidden = false;
  input.setAttribute("aria-invalid", "true");
}

let loading = 0;

async function load() {
  const ticket = ++loading;
  const params = listParams({status: state.statuses.join(","), limit: state.limit,
    cursor: state.cursors[state.page], with_total: "true"});
  let page;
  try {
    page = await api(`/api/v1/runs${query(params)}`);
    await attachChildCounts(page.runs);
  } catch (err) {
    if (ticket !== loading) return;
    showError(err.field === "where" || err.field === "order_by" || err.status === 422
      ? err.message : `Could not load runs: ${err.message}`);
    state.runs = [];
    state.total = 0;
    count.textContent = "";
    clear(table);
    clear(pager);
    clear(facetsEl);
    renderEmpty(true);
    main.dataset.loaded = "1";
    return;
  }
  if (ticket !== loading) return;
  showError(null);
  state.runs = page.runs;
  state.total = page.total;
  state.next = page.next_cursor;
  render();
  if (!main.dataset.loaded) performance.mark("picidae:runs-loaded");  // benchmarks/ui.py
  main.dataset.loaded = "1";
  // Facets count every status (ten counts): they follow the table rather than delay it.
  loadFacets(ticket).catch(() => {});
  tree.load(baseWhere(), state.prefix);
  attachParentStats(state.runs);
  for (const id of [...state.expanded]) {
    if (state.runs.some((r) => r.id === id)) expand(id, true);
  }
}

async function loadFacets(ticket) {
  const params = {where: listParams().where};
  const body = await api(`/api/v1/ui/facets${query(params)}`);
  if (ticket !== loading) return;
  clear(facetsEl, h("span", {class: "faint"}, "Status:"));
  const shown = STATES.filter((s) => body.statuses[s] || state.statuses.includes(s));
  for (const status of shown) {
    const on = state.statuses.includes(status);
    facetsEl.append(h("button", {type: "button", class: "facet", "aria-pressed": on ? "true" : "false",
      dataset: {status},
      onclick: () => {
        state.statuses = on ? state.statuses.filter((s) => s !== status) : [...state.statuses, status];
        restart(true);
      }}, badge(status), h("span", {class: "n"}, fmtNum(body.statuses[status] || 0))));
  }
  if (state.statuses.length) {
    facetsEl.append(h("button", {type: "button", class: "link small", onclick: () => {
      state.statuses = [];
      restart(true);
    }}, "any status"));
  }
  // Rows and status counts drawn: the page is interactive (benchmarks/scale_ui.py).
  if (!performance.getEntriesByName("picidae:runs-facets").length) performance.mark("picidae:runs-facets");
}

async function attachChildCounts(runs) {
  const chunks = [];
  for (let i = 0; i < runs.length; i += 100) chunks.push(runs.slice(i, i + 100));
  await Promise.all(chunks.map(async (chunk) => {
    try {
      const body = await api(`/api/v1/ui/child-counts${query({ids: chunk.map((r) => r.id).join(",")})}`);
      for (const run of chunk) run.children = body.counts[run.id] || 0;
    } catch (err) {
      for (const run of chunk) run.children = 0;
    }
  }));
}

async function attachParentStats(runs) {
  // A parent without its own best shows its children's mean ± std of its primary metric.
  await Promise.all(runs.filter((r) => r.children && r.primary_metric && r.primary_metric.name
    && (r.primary_metric.best === null || r.primary_metric.best === undefined) && !r.agg)
    .map(async (run) => {
      try {
        run.agg = await api(`/api/v1/runs/${encodeURIComponent(run.id)}/children_stats${query({keys: run.primary_metric.name})}`);
      } catch (err) {
        return;
      }
      const cell = rowOf(run.id)?.querySelector('td[data-col="primary"]');
      if (cell) cell.replaceChildren(primaryCell(run));
    }));
}

function renderEmpty(failed) {
  if (failed) {
    tableBox.replaceChildren(emptyState("No runs to show", "Fix the filter above, or clear it."));
    return;
  }
  const filtered = state.where || state.statuses.length;
  tableBox.replaceChildren(filtered
    ? emptyState("No runs match this filter", "Loosen the filter or clear it to see every run.")
    : emptyState("No runs yet",
      "Record your first run from Python (or run `picidae demo` for example runs):",
      INIT_SNIPPET));
}

function columns() {
  return [...FIXED, ...state.cols.map((c) => [c, c, c])];
}

function sortState(field) {
  const [f, dir] = state.order.split(/\s+/);
  if (f !== field) return null;
  return dir === "desc" ? "desc" : "asc";
}

function headerCell([id, label, field]) {
  const custom = !FIXED.some((f) => f[0] === id);
  if (RUN_COLUMNS[id] && !RUN_COLUMNS[id].sortable) {
    return h("th", {scope: "col", dataset: {col: id}}, label, h("button", {type: "button", class: "col-remove",
      title: `Remove column ${label}`, "aria-label": `Remove column ${label}`, onclick: () => removeColumn(id)}, "✕"));
  }
  let dir;
  if (id === "primary") {
    dir = {"best": "best", "best desc": "best", "best asc": "worst"}[state.order.trim()] || null;
  }
  else if (!state.order && id === "created") dir = "desc";
  else dir = sortState(field);
  const ariaSort = dir ? (dir === "desc" || dir === "best" ? "descending" : "ascending") : null;
  const sort = () => {
    if (id === "primary") {
      // best first, then worst first
      state.order = dir === "best" ? "best asc" : "best";
    } else {
      const next = dir === "asc" ? "desc" : (dir === "desc" ? "asc"
        : (["name", "status", "alias", "kind", "agent"].includes(id) ? "asc" : "desc"));
      state.order = `${field} ${next}`;
    }
    restart(false);
  };
  const arrow = dir ? h("span", {class: "arrow", "aria-hidden": "true"},
    dir === "desc" || dir === "best" ? " ▼" : " ▲") : null;
  const button = h("button", {type: "button", class: "sort",
    title: id === "primary" ? (dir === "best" ? "Best first; click for worst first"
      : "Sort every run by its primary metric, best first (each by its own mode)") : `Sort by ${field}`,
    onclick: (e) => { e.stopPropagation(); sort(); }}, label, arrow);
  // The whole header cell sorts, not only its text.
  return h("th", {scope: "col", "aria-sort": ariaSort, class: ["sortable", ["duration", "primary"].includes(id) || custom ? "num" : ""].join(" ").trim(),
    dataset: {col: id}, onclick: sort},
  button, custom ? h("button", {type: "button", class: "col-remove", title: `Remove column ${label}`,
    "aria-label": `Remove column ${label}`, onclick: (e) => { e.stopPropagation(); removeColumn(id); }}, "✕") : null);
}

function primaryCell(run) {
  const pm = run.primary_metric;
  const fromKids = run.agg && (pm?.best === null || pm?.best === undefined) ? parentPrimary(pm, run.agg) : null;
  if (fromKids) {
    return h("span", {title: fromKids.title}, h("span", {class: "muted"}, `${pm.name} `), fromKids.text);
  }
  if (!pm || !pm.name) return h("span", {class: "faint"}, "—");
  if (pm.best === null || pm.best === undefined) {
    return h("span", {class: "faint", title: `${pm.name} (${pm.mode || "max"}): no value yet`}, `${pm.name} —`);
  }
  return h("span", {title: `best ${pm.name} (${pm.mode || "max"}) at step ${pm.step ?? "?"}`},
    h("span", {class: "muted"}, `${pm.name} `), fmtNum(pm.best));
}

function row(run, depth) {
  const selected = state.selected.has(run.id);
  const box = h("input", {type: "checkbox", "aria-label": `Select ${run.name}`, onchange: (e) => {
    if (e.target.checked) state.selected.set(run.id, run);
    else state.selected.delete(run.id);
    tr.classList.toggle("selected", e.target.checked);
    updateCompare();
  }});
  box.checked = selected;
  const open = state.expanded.has(run.id);
  const expander = run.children
    ? h("button", {type: "button", class: "expander", "aria-expanded": open ? "true" : "false",
      "aria-label": `${open ? "Collapse" : "Expand"} ${run.children} children of ${run.name}`,
      title: `${run.children} children`, onclick: () => toggle(run.id)}, open ? "▾" : "▸")
    : h("span", {class: "expander-spacer"});
  const cells = {
    status: badge(run.status),
    name: h("span", {}, expander, h("span", {class: "name"}, runLink(run)),
      run.children ? h("span", {class: "kids"}, `${run.children} ${run.children === 1 ? "child" : "children"}`) : null),
    alias: run.alias || "",
    kind: run.kind || "",
    agent: run.agent || "",
    created: timeEl(run.created_at),
    duration: fmtDuration(run.duration_s),
    primary: primaryCell(run),
  };
  const tr = h("tr", {class: [depth ? "child" : "", selected ? "selected" : "", state.flash.has(run.id) ? "flash" : ""].join(" ").trim() || null,
    dataset: {id: run.id, runId: run.id, name: run.name, depth: String(depth)}},
  h("td", {}, box),
  columns().map(([id]) => {
    if (id in cells) {
      return h("td", {dataset: {col: id}, class: [id === "name" ? "name-cell" : "", ["duration", "primary"].includes(id) ? "num nowrap" : "", id === "created" ? "nowrap" : ""].join(" ").trim() || null,
        style: id === "name" && depth ? {paddingLeft: `${10 + depth * 24}px`} : null}, cells[id]);
    }
    if (RUN_COLUMNS[id]) return h("td", {dataset: {col: id}}, RUN_COLUMNS[id].cell(run));
    return h("td", {class: "num"}, fmtValue(columnValue(run, id)));
  }));
  return tr;
}

function render() {
  const top = topOnly();
  topBox.checked = top;
  topBox.disabled = Boolean(state.where);
  document.getElementById("nest-hint").textContent = state.where
    ? "A filter matches runs at any depth"
    : (top ? "Children nest under their parents (▸)" : "");
  count.textContent = state.total === null || state.total === undefined ? ""
    : `${fmtNum(state.total)} ${state.total === 1 ? "run" : "runs"}`;
  updateSuggestions();
  if (!state.runs.length) {
    clear(table);
    clear(pager);
    renderEmpty(false);
    return;
  }
  if (!tableBox.contains(table)) tableBox.replaceChildren(table);
  const all = h("input", {type: "checkbox", "aria-label": "Select every run on this page", onchange: (e) => {
    for (const run of state.runs) {
      if (e.target.checked) state.selected.set(run.id, run);
      else state.selected.delete(run.id);
    }
    render();
    updateCompare();
  }});
  all.checked = state.runs.every((r) => state.selected.has(r.id));
  clear(table,
    h("thead", {}, h("tr", {}, h("th", {scope: "col"}, all), columns().map(headerCell))),
    h("tbody", {}, state.groupBy ? groupedRows() : state.runs.map((run) => row(run, 0))));
  if (!groupSlot.firstChild) {
    groupSlot.append(groupByBox(state.runs, state.groupBy, (field) => {
      state.groupBy = field;
      render();
    }));
  }
  renderPager();
  updateCompare();
  state.flash.clear();
  drawSparklines(state.runs, primaryCellOf);
}

function primaryCellOf(id) {
  return rowOf(id)?.querySelector('td[data-col="primary"]');
}

/** The page's runs under one header row per group (group_by): name, n and the mean ± std
 * of the group's primary-metric values. */
function groupedRows() {
  return groupRuns(state.runs, state.groupBy).flatMap((g) => {
    const names = [...new Set(g.runs.map((r) => r.primary_metric?.name).filter(Boolean))];
    const s = meanStd(g.runs.map((r) => r.primary_metric?.best));
    const head = h("tr", {class: "group-row", dataset: {group: "", name: g.name, n: String(g.runs.length),
      key: names.length === 1 ? names[0] : "", mean: s.mean === null ? "" : String(s.mean),
      std: s.std === null ? "" : String(s.std), depth: "-1"}},
    h("td", {colspan: String(columns().length + 1)}, `${state.groupBy} = ${g.name}`,
      h("span", {class: "faint"}, ` · ${g.runs.length} ${g.runs.length === 1 ? "run" : "runs"}`),
      s.n && names.length === 1 ? h("span", {class: "muted"}, ` · ${names[0]} ${fmtMeanStd(s)}`) : null));
    return [head, ...g.runs.map((run) => row(run, 0))];
  });
}

function renderPager() {
  const first = state.page * state.limit + 1;
  const last = state.page * state.limit + state.runs.length;
  const size = h("select", {"aria-label": "Runs per page", onchange: (e) => {
    state.limit = Number(e.target.value);
    restart(false);
  }}, [25, 50, 100, 200, 500].map((n) => h("option", {value: String(n)}, `${n} / page`)));
  size.value = String(state.limit);
  clear(pager,
    h("span", {class: "muted"}, `${fmtNum(first)}–${fmtNum(last)}${state.total ? ` of ${fmtNum(state.total)}` : ""}`),
    size,
    h("button", {type: "button", disabled: state.page === 0, onclick: () => {
      state.page -= 1;
      load();
    }}, "‹ Previous"),
    h("button", {type: "button", disabled: !state.next, onclick: () => {
      state.cursors[state.page + 1] = state.next;
      state.page += 1;
      load();
    }}, "Next ›"));
}

function updateCompare() {
  const n = state.selected.size;
  compareButton.textContent = n ? `Compare ${n} selected` : "Compare";
  compareButton.disabled = n < 2;
  compareButton.title = n < 2 ? "Select two or more runs to compare them" : "";
  compareButton.classList.toggle("primary", n >= 2);
}

function openCompare() {
  location.href = `/compare?ids=${[...state.selected.keys()].map(encodeURIComponent).join(",")}`;
}

function updateSuggestions() {
  const keys = new Set();
  for (const run of state.runs.slice(0, 200)) {
    Object.keys(flatten(run.config)).forEach((k) => keys.add(`config.${k}`));
    Object.keys(flatten(run.summary)).forEach((k) => keys.add(`summary.${k}`));
    Object.keys(run.metrics || {}).forEach((k) => keys.add(`metrics.${k}`));
  }
  ["id", "tags", "notes"].forEach((k) => keys.add(k));
  clear(colList, [...keys].sort().filter((k) => !state.cols.includes(k)).map((k) => h("option", {value: k})));
}

// ---- Children -----------------------------------------------------------------------------

function toggle(id) {
  if (state.expanded.has(id)) collapse(id);
  else expand(id);
}

function rowOf(id) {
  return table.querySelector(`tr[data-id="${CSS.escape(id)}"]`);
}

function collapse(id) {
  state.expanded.delete(id);
  const tr = rowOf(id);
  if (!tr) return;
  const depth = Number(tr.dataset.depth);
  let next = tr.nextElementSibling;
  while (next && Number(next.dataset.depth) > depth) {
    const after = next.nextElementSibling;
    if (next.dataset.id) state.expanded.delete(next.dataset.id);
    next.remove();
    next = after;
  }
  const button = tr.querySelector(".expander");
  if (button) {
    button.setAttribute("aria-expanded", "false");
    button.textContent = "▸";
  }
}

async function expand(id, refresh = false) {
  const tr = rowOf(id);
  if (!tr) return;
  if (refresh) collapse(id);
  state.expanded.add(id);
  const depth = Number(tr.dataset.depth);
  const button = tr.querySelector(".expander");
  if (button) {
    button.setAttribute("aria-expanded", "true");
    button.textContent = "▾";
  }
  let kids;
  let agg;
  try {
    [kids, agg] = await Promise.all([
      api(`/api/v1/runs${query({parent: id, order_by: state.order.startsWith("best") ? state.order : "created_at asc",
        limit: 500, status: state.statuses.join(",")})}`),
      api(`/api/v1/runs/${encodeURIComponent(id)}/children_stats`),
    ]);
  } catch (err) {
    tr.after(h("tr", {class: "stats-row", dataset: {depth: String(depth + 1), parent: id}},
      h("td", {colspan: String(columns().length + 1)}, `Could not load children: ${err.message}`)));
    return;
  }
  if (!state.expanded.has(id) || !rowOf(id)) return;
  await attachChildCounts(kids.runs);
  const parent = state.runs.find((r) => r.id === id) || {};
  parent.agg = agg;
  const pmCell = tr.querySelector('td[data-col="primary"]');
  if (pmCell) pmCell.replaceChildren(primaryCell(parent));
  const rows = kids.runs.map((kid) => row(kid, depth + 1));
  rows.push(statsRow(id, parent, agg, depth + 1, kids));
  tr.after(...rows);
  drawSparklines(kids.runs, primaryCellOf);
}

function statsRow(id, parent, agg, depth, kids) {
  const pm = parent.primary_metric && parent.primary_metric.name;
  // Mean ± std only where two or more children have the key: phases each log their own.
  const keys = Object.keys(agg.stats).filter((k) => agg.stats[k].n > 1).sort((a, b) => (b === pm) - (a === pm));
  const statuses = Object.entries(agg.statuses).map(([s, n]) => `${n} ${s}`).join(", ");
  const more = kids.next_cursor ? ` (showing the first ${kids.runs.length})` : "";
  return h("tr", {class: "stats-row", dataset: {depth: String(depth), parent: id}},
    h("td", {colspan: String(columns().length + 1), style: {paddingLeft: `${10 + depth * 24}px`}},
      h("span", {class: "stat"}, `Across ${agg.children} children${more}: ${statuses}`),
      keys.length ? keys.slice(0, 8).map((key) => {
        const s = agg.stats[key];
        return h("span", {class: "stat", title: `n=${s.n}, min ${fmtNum(s.min)}, max ${fmtNum(s.max)}`},
          `${key} `, h("b", {}, `${fmtMeanStd(s)}`), h("span", {class: "faint"}, ` n=${s.n}`));
      }) : h("span", {class: "faint"}, Object.keys(agg.stats).length
        ? "no metric shared by two or more children" : "no metrics yet")));
}

// ---- Live -------------------------------------------------------------------------------

const refresh = throttle(() => load(), 1000);

subscribe((event) => {
  if (event.run_id) state.flash.add(event.run_id);
  refresh();
});

// Points are not events: while a listed run is live, its metric columns refresh on a timer.
setInterval(() => {
  if (!document.hidden && state.runs.some((r) => ["running", "evaluating"].includes(r.status))) {
    refresh();
  }
}, 5000);

load();
