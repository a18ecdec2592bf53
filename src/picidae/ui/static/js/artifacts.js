// The run page's artifacts panel: images by key, each with a step slider, and every file with
// its size, digest and download. Hooks: [data-artifacts], [data-artifact] (data-name) per
// artifact, img[data-image] (data-name, data-step).

import {api, clear, emptyState, fmtNum, h, timeEl} from "./common.js";

const HINT = 'run.log_artifact("model.pt")   # or run.log_image("samples", image, step=step)';

function fmtBytes(n) {
  if (n === null || n === undefined) return "";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${i ? n.toFixed(1) : n} ${units[i]}`;
}

/** One image key: the image at the chosen step, and a slider over the steps it was logged at. */
function imageKey(name, images, url) {
  images.sort((a, b) => (a.step ?? -1) - (b.step ?? -1));
  let at = images.length - 1;  // the latest step first
  const img = h("img", {alt: "", dataset: {image: "", name}});
  const link = h("a", {}, img);
  const caption = h("figcaption", {});
  const show = () => {
    const art = images[at];
    img.src = url(art);
    img.alt = art.caption || `${name} at step ${art.step ?? "—"}`;
    img.dataset.step = art.step ?? "";
    link.href = url(art);
    caption.textContent = `step ${art.step ?? "—"}${art.caption ? ` · ${art.caption}` : ""}` +
      (images.length > 1 ? ` (${at + 1} of ${images.length})` : "");
  };
  const slider = images.length > 1 ? h("input", {type: "range", min: "0", max: String(images.length - 1),
    step: "1", value: String(at), "aria-label": `Step of ${name}`, oninput: (e) => {
      at = Number(e.target.value);
      show();
    }}) : null;
  show();
  return h("figure", {class: "image-key", dataset: {key: name}}, h("div", {class: "image-name"}, name), link,
    slider, caption);
}

/** The artifacts panel of one run; ``load()`` (re)lists them. */
export class ArtifactsPanel {
  constructor(runId) {
    this.runId = runId;
    this.body = h("div", {class: "panel-body"});
    this.panel = h("section", {class: "panel", id: "artifacts", "aria-label": "Artifacts",
      dataset: {artifacts: ""}}, h("div", {class: "panel-head"}, h("h2", {}, "Artifacts"),
      this.count = h("span", {class: "muted"})), this.body);
  }

  url(art) {
    if (art.kind === "folder" || art.id === undefined || art.id === null) return null;
    return `/api/v1/runs/${encodeURIComponent(this.runId)}/artifacts/${encodeURIComponent(art.id)}`;
  }

  async load() {
    let list;
    try {
      const res = await api(`/api/v1/runs/${encodeURIComponent(this.runId)}/artifacts`);
      list = Array.isArray(res) ? res : (res.artifacts || []);
    } catch (err) {
      clear(this.body, h("p", {class: "muted"}, `Could not load artifacts: ${err.message}`));
      return;
    }
    this.count.textContent = list.length ? fmtNum(list.length) : "";
    if (!list.length) {
      clear(this.body, emptyState("No artifacts", "Files and images a run logs appear here:", HINT));
      return;
    }
    const byKey = new Map();
    for (const img of list.filter((a) => a.kind === "image" && this.url(a))) {
      if (!byKey.has(img.name)) byKey.set(img.name, []);
      byKey.get(img.name).push(img);
    }
    const url = (a) => this.url(a);
    clear(this.body,
      byKey.size ? h("div", {class: "gallery"}, [...byKey.entries()].map(([name, imgs]) => imageKey(name, imgs, url))) : null,
      h("table", {class: "grid"}, h("thead", {}, h("tr", {}, ["Name", "Type", "Size", "Step", "Digest", "Logged"].map((c) => h("th", {scope: "col"}, c)))),
        h("tbody", {}, list.map((a) => h("tr", {dataset: {artifact: "", name: a.name}},
          h("td", {}, url(a) ? h("a", {href: url(a), download: a.name.split("/").pop()}, a.name) : a.name),
          h("td", {}, [...new Set([a.type, a.kind].filter(Boolean))].join(" · ")), h("td", {class: "num"}, fmtBytes(a.size)),
          h("td", {class: "num"}, a.step ?? ""), h("td", {}, a.digest ? h("code", {title: a.digest}, a.digest.slice(0, 12)) : ""),
          h("td", {}, a.created_at ? timeEl(a.created_at) : ""))))));
  }
}
