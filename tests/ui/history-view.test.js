// The history list keeps keyboard focus in it when an entry is deleted (on a fake DOM), and
// the one focus rule (focus.js): focus moves only when the page took it away.
import { test } from "node:test";
import assert from "node:assert/strict";
import { HistoryView } from "../../ui/js/history-view.js";
import { restoreFocus } from "../../ui/js/focus.js";
import { FakeDocument } from "./fake-dom.js";
import { readFileSync } from "node:fs";

const entry = (id) => ({ id, instruction: `指示 ${id}`, created_at_ms: 0, generated_tokens: 3, seed: 1 });

/** A list of `ids` whose remove deletes from the backend's list and renders it again. */
function setup(ids) {
  const doc = new FakeDocument();
  const list = doc.add("ol", "history-list");
  const empty = doc.add("p", "history-empty");
  const heading = doc.add("h2", "history-heading", { attrs: { tabindex: "-1" } });
  let stored = ids.map(entry);
  const view = new HistoryView(list, empty, {
    open() {},
    regenerate() {},
    async remove(id) {
      stored = stored.filter((e) => e.id !== id);
      view.render(stored, "ja");
    },
  }, heading);
  view.render(stored, "ja");
  return { doc, view, list, heading };
}

/** Presses an entry's delete twice (arm, then delete), from the keyboard. */
async function deleteAt(doc, list, index) {
  const del = list.children[index].children[1].children[1];
  assert.equal(del.dataset.action, "delete");
  del.focus();
  await del.dispatch("click");
  assert.equal(doc.activeElement, del, "arming keeps the focus");
  await del.dispatch("click");
}

test("deleting an entry focuses the one now in its place, then the one before, then the heading", async () => {
  const { doc, view, list, heading } = setup(["a", "b", "c"]);
  await deleteAt(doc, list, 1);
  assert.deepEqual(view.items.map((e) => e.id), ["a", "c"]);
  const openOf = (i) => list.children[i].children[0];
  assert.equal(openOf(1).className, "history-open");
  assert.equal(doc.activeElement, openOf(1), "entry c, now second");
  await deleteAt(doc, list, 1);
  assert.equal(doc.activeElement, openOf(0), "the last deleted: the one before it");
  await deleteAt(doc, list, 0);
  assert.equal(doc.activeElement, heading, "an empty list: its heading");
});

test("the history heading can take focus (the empty list's fallback)", () => {
  const html = readFileSync(new URL("../../ui/index.html", import.meta.url), "utf8");
  assert.match(html, /<h2 id="history-heading"[^>]* tabindex="-1"/);
});

test("focus moves only when the page took it away", () => {
  const doc = new FakeDocument();
  const generate = doc.add("button", "generate-button");
  const stop = doc.add("button", "stop-button", { disabled: true });
  const field = doc.add("textarea", "instruction");
  // A run starts from Generate: it is disabled, Stop takes the focus.
  generate.focus();
  generate.disabled = true;
  stop.disabled = false;
  assert.equal(restoreFocus(doc, generate, stop), true);
  assert.equal(doc.activeElement, stop);
  // The run ends: Stop is disabled, back to Generate.
  stop.disabled = true;
  generate.disabled = false;
  assert.equal(restoreFocus(doc, stop, generate), true);
  assert.equal(doc.activeElement, generate);
  // Focus on nothing (the body) counts as lost.
  generate.blur();
  assert.equal(restoreFocus(doc, doc.activeElement, generate), true);
  // Started with Ctrl+Enter in 指示: the field keeps the focus.
  field.focus();
  assert.equal(restoreFocus(doc, field, stop), false);
  assert.equal(doc.activeElement, field);
  // The user moved on to 指示 while the run went: Stop's disabling does not take it back.
  stop.disabled = true;
  assert.equal(restoreFocus(doc, stop, generate), false);
  assert.equal(doc.activeElement, field);
});

test("an entry's instruction is marked Japanese in the English page too", () => {
  const doc = new FakeDocument();
  const view = new HistoryView(doc.add("ol", "history-list"), doc.add("p", "history-empty"), {});
  view.render([entry("a")], "en");
  const title = view.list.children[0].children[0].children[0];
  assert.equal(title.className, "history-title");
  assert.equal(title.getAttribute("lang"), "ja");
});
