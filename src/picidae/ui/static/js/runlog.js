// The run page's log: tailed live, "Follow" keeps the newest line in view, and a search box
// that highlights matching lines and jumps between them (Enter: next, Shift+Enter: previous).

import {api, clear, fmtNum, fmtTime, h, query} from "./common.js";

const MAX_LINES = 5000;
const PAGE = 5000;

function logLine(line) {
  const t = new Date(line.time * 1000);
  const stamp = [t.getHours(), t.getMinutes(), t.getSeconds()].map((n) => String(n).padStart(2, "0")).join(":");
  return h("div", {class: `line ${line.stream}`}, h("span", {class: "t", title: fmtTime(line.time)}, stamp),
    h("span", {class: "text"}, line.text));
}

/** One run's log panel; ``load(terminal)`` reads the lines logged since the last call. */
export class RunLog {
  constructor(runId) {
    this.runId = runId;
    this.offset = 0;
    this.count = 0;
    this.follow = true;
    this.matches = [];
    this.current = -1;
    this.box = h("div", {class: "log", id: "log", tabindex: "0", role: "log", "aria-label": "Run log", "aria-live": "off"});
    this.countEl = h("span", {class: "muted"});
    this.followBox = h("input", {type: "checkbox", onchange: (e) => {
      this.follow = e.target.checked;
      if (this.follow) this.box.scrollTop = this.box.scrollHeight;
    }});
    this.followBox.checked = true;
    this.found = h("span", {class: "muted", role: "status"});
    this.search = h("input", {type: "search", name: "log-search", placeholder: "Search the log",
      "aria-label": "Search the log", size: 18,
      oninput: () => this.highlight(true),
      onkeydown: (e) => {
        if (e.key !== "Enter") return;
        e.preventDefault();
        this.jump(e.shiftKey ? -1 : 1);
      }});
    this.panel = h("section", {class: "panel", id: "log-panel", "aria-label": "Log"},
      h("div", {class: "panel-head"}, h("h2", {}, "Log"), this.countEl, h("span", {class: "spacer"}),
        this.search, this.found, h("label", {class: "check"}, this.followBox, "Follow")), this.box);
    this.box.addEventListener("scroll", () => {
      const atEnd = this.box.scrollTop + this.box.clientHeight >= this.box.scrollHeight - 8;
      if (!atEnd && this.follow && document.activeElement === this.box) {
        this.follow = false;
        this.followBox.checked = false;
      }
    });
  }

  async load(terminal) {
    let added = 0;
    for (;;) {
      const body = await api(`/api/v1/runs/${encodeURIComponent(this.runId)}/logs${query({offset: this.offset, limit: PAGE})}`);
      if (!body.lines.length) break;
      if (this.count === 0 && !this.box.querySelector(".line")) this.box.replaceChildren();
      const frag = document.createDocumentFragment();
      body.lines.forEach((line) => frag.append(logLine(line)));
      this.box.append(frag);
      this.offset = body.next_offset;
      this.count += body.lines.length;
      added += body.lines.length;
      if (body.lines.length < PAGE) break;
    }
    while (this.box.childElementCount > MAX_LINES) this.box.firstElementChild.remove();
    if (this.count === 0) {
      clear(this.box, h("p", {class: "faint", style: {padding: "0 12px"}}, terminal
        ? "No log lines." : "No log lines yet: run.log_text(...) or capture_console=True writes here."));
    }
    this.countEl.textContent = `${fmtNum(this.count)} ${this.count === 1 ? "line" : "lines"}` +
      (this.count > MAX_LINES ? ` (showing the last ${fmtNum(MAX_LINES)})` : "");
    if (added && this.search.value) this.highlight(false);
    if (added && this.follow && !this.search.value) this.box.scrollTop = this.box.scrollHeight;
  }

  /** Mark the lines containing the search text (case-insensitive); optionally jump to the first. */
  highlight(jump) {
    const text = this.search.value.trim().toLowerCase();
    this.matches = [];
    for (const line of this.box.querySelectorAll(".line")) {
      const hit = Boolean(text) && line.lastChild.textContent.toLowerCase().includes(text);
      line.classList.toggle("match", hit);
      line.classList.remove("current");
      if (hit) this.matches.push(line);
    }
    if (jump) this.current = -1;
    if (!text) {
      this.found.textContent = "";
      return;
    }
    this.found.textContent = this.matches.length ? `${this.matches.length} found` : "no match";
    if (jump && this.matches.length) this.jump(1);
    else if (this.current >= 0 && this.matches[this.current]) this.matches[this.current].classList.add("current");
  }

  /** Scroll to the next (+1) or previous (−1) matching line. */
  jump(direction) {
    if (!this.matches.length) return;
    if (this.current >= 0 && this.matches[this.current]) this.matches[this.current].classList.remove("current");
    this.current = (this.current + direction + this.matches.length) % this.matches.length;
    const line = this.matches[this.current];
    line.classList.add("current");
    this.follow = false;
    this.followBox.checked = false;
    this.box.scrollTop = line.offsetTop - this.box.offsetTop - this.box.clientHeight / 2;
    this.found.textContent = `${this.current + 1} of ${this.matches.length}`;
  }
}
