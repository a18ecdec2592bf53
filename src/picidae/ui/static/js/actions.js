// Run actions on the run page: edit (alias, tags, notes), cancel, retry, replay (with config
// overrides), archive, restore. Buttons [data-action=NAME] appear only when the viewer may
// write (GET /api/v1/whoami) and the action is legal in the run's state.

import {TERMINAL, api, clear, h, toast} from "./common.js";

const ENDED = new Set(["completed", "failed", "canceled"]);
let role = null;  // a promise of "read" | "write" | "none", asked once per page

/** The viewer's role: "write" or "read" ("none" when the server would not say). */
export function viewerRole() {
  if (role === null) role = api("/api/v1/whoami").then((me) => me.role, () => "none");
  return role;
}

/** The actions legal for `run` in its state, in the order the buttons show. */
export function legalActions(run) {
  const rerunnable = Boolean(run.command) || Boolean((run.execution || {}).group);
  const out = ["edit"];
  if (!TERMINAL.has(run.status)) out.push("cancel");
  if (rerunnable && TERMINAL.has(run.status)) out.push("retry");
  if (rerunnable) out.push("replay");
  if (ENDED.has(run.status)) out.push("archive");
  if (run.status === "archived") out.push("restore");
  return out;
}

const LABELS = {edit: "Edit", cancel: "Cancel", retry: "Retry", replay: "Replay…",
  archive: "Archive", restore: "Restore"};
const TITLES = {
  edit: "Change the alias, tags and notes",
  cancel: "Stop this run (and its unfinished children)",
  retry: "Queue this run again (attempt + 1)",
  replay: "Queue this run's command again, with config overrides",
  archive: "Hide this ended run from the runs list (restore brings it back)",
  restore: "Return this archived run to the state it ended in",
};

const path = (run, tail = "") => `/api/v1/runs/${encodeURIComponent(run.id)}${tail}`;
const post = (url, body) => api(url, {method: "POST", headers: {"Content-Type": "application/json"},
  body: JSON.stringify(body || {})});

/**
 * The action bar of a run page. `onchange()` reloads the run after an action that changes
 * it; retry and replay open the new run.
 */
export class RunActions {
  constructor(onchange) {
    this.onchange = onchange;
    this.bar = h("div", {class: "actions", role: "toolbar", "aria-label": "Run actions"});
    this.form = h("div", {class: "action-form", hidden: true});
    this.el = h("div", {class: "run-actions"}, this.bar, this.form);
    this.run = null;
  }

  async render(run) {
    this.run = run;
    const allowed = (await viewerRole()) === "write" ? legalActions(run) : [];
    clear(this.bar, allowed.map((name) => h("button", {type: "button", class: "small",
      dataset: {action: name}, title: TITLES[name], onclick: () => this.act(name)}, LABELS[name])));
    this.el.hidden = !allowed.length;
    if (!allowed.includes(this.form.dataset.for)) this.closeForm();
  }

  closeForm() {
    this.form.hidden = true;
    delete this.form.dataset.for;
    this.form.replaceChildren();
  }

  async act(name) {
    const run = this.run;
    if (name === "edit") return this.editForm(run);
    if (name === "replay") return this.replayForm(run);
    try {
      if (name === "cancel") await post(path(run, "/cancel"), {reason: "canceled from the web UI"});
      else if (name === "archive") await post(path(run, "/transitions"), {to: "archived"});
      else if (name === "restore") await post(path(run, "/restore"));
      else if (name === "retry") return this.open(await post(path(run, "/retry")), "retry");
      toast(`${LABELS[name]}: done`);
      await this.onchange();
    } catch (err) {
      toast(`${LABELS[name]} failed: ${err.message}`, 5000);
    }
    return null;
  }

  open(created, what) {
    toast(`Queued ${what} ${created.id.slice(0, 8)}`);
    location.href = `/runs/${encodeURIComponent(created.id)}`;
  }

  showForm(name, title, fields, onsubmit) {
    const error = h("p", {class: "error", role: "alert", hidden: true});
    clear(this.form, h("form", {dataset: {form: name}, onsubmit: async (e) => {
      e.preventDefault();
      error.hidden = true;
      try {
        await onsubmit();
      } catch (err) {
        error.textContent = err.field ? `${err.field}: ${err.message}` : err.message;
        error.hidden = false;
      }
    }}, h("h3", {}, title), fields, error, h("div", {class: "buttons"},
      h("button", {type: "submit", class: "primary"}, name === "replay" ? "Queue replay" : "Save"),
      h("button", {type: "button", onclick: () => this.closeForm()}, "Close"))));
    this.form.dataset.for = name;
    this.form.hidden = false;
    const first = this.form.querySelector("input, textarea");
    if (first) first.focus();
  }

  editForm(run) {
    const alias = h("input", {type: "text", name: "alias", value: run.alias || "", size: 24});
    const add = h("input", {type: "text", name: "add_tags", size: 32,
      placeholder: "new tags, comma-separated"});
    const removes = (run.tags || []).map((t) => h("label", {class: "check tag"},
      h("input", {type: "checkbox", name: "remove_tags", value: t}), t));
    const notes = h("textarea", {name: "notes", rows: 4, cols: 60,
      placeholder: "Notes (Markdown): what this run showed, why it matters"});
    notes.value = run.notes || "";
    this.showForm("edit", "Edit run", [
      h("label", {class: "field"}, "Alias", alias),
      h("label", {class: "field"}, "Add tags", add),
      removes.length ? h("div", {class: "field"}, h("span", {}, "Remove tags"), removes) : null,
      h("label", {class: "field"}, "Notes", notes),
    ], async () => {
      const body = {};
      if (alias.value.trim() !== (run.alias || "")) body.alias = alias.value.trim();
      const tags = add.value.split(",").map((t) => t.trim()).filter(Boolean);
      if (tags.length) body.add_tags = tags;
      const gone = removes.map((l) => l.firstChild).filter((b) => b.checked).map((b) => b.value);
      if (gone.length) body.remove_tags = gone;
      if (notes.value !== (run.notes || "")) body.notes = notes.value;
      if (Object.keys(body).length) {
        await api(path(run), {method: "PATCH", headers: {"Content-Type": "application/json"},
          body: JSON.stringify(body)});
        toast("Saved");
      }
      this.closeForm();
      await this.onchange();
    });
  }

  replayForm(run) {
    const lines = h("textarea", {name: "set", rows: 4, cols: 48, spellcheck: "false",
      placeholder: "KEY=VALUE, one a line (lr=0.01, opt.name=adam)"});
    this.showForm("replay", "Replay with overrides", [
      h("p", {class: "muted"}, "Queues this run's command, code, inputs and config again, " +
        "with these config values changed (dots nest; values are JSON when they parse)."),
      lines,
    ], async () => {
      const set = lines.value.split("\n").map((l) => l.trim()).filter(Boolean);
      this.open(await post(path(run, "/replay"), {set}), "replay");
    });
  }
}
