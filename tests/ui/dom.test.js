// The page's DOM helpers on a fake DOM: a list re-rendered keeps the focus in its row, a saved
// value the select lacks is added, and focus lost to a closed or hidden part moves on.
import { test } from "node:test";
import assert from "node:assert/strict";
import { replaceRows, rowButton, selectValue } from "../../ui/js/dom.js";
import { restoreFocus } from "../../ui/js/focus.js";
import { FakeDocument } from "./fake-dom.js";

/** A row keyed `key` with buttons `[action, className, disabled?]`. */
function row(doc, key, buttons) {
  const li = doc.createElement("li");
  li.dataset.key = key;
  for (const [action, className = "small", disabled = false] of buttons) {
    const b = doc.createElement("button");
    b.dataset.action = action;
    b.className = className;
    b.disabled = disabled;
    li.append(b);
  }
  return li;
}

test("a re-rendered row keeps the focus: the same action, else its main button, else its first", () => {
  const doc = new FakeDocument();
  const list = doc.add("ul", "model-list");
  replaceRows(list, [row(doc, "a", [["download", "small primary"], ["delete"]]), row(doc, "b", [["download", "small primary"]])]);
  list.children[0].children[0].focus();
  // The same action is still there (a language switch).
  replaceRows(list, [row(doc, "a", [["download", "small primary"], ["delete"]]), row(doc, "b", [["download", "small primary"]])]);
  assert.equal(doc.activeElement, list.children[0].children[0]);
  // Download became Pause and Cancel: the first.
  replaceRows(list, [row(doc, "a", [["pause"], ["cancel"]]), row(doc, "b", [["download", "small primary"]])]);
  assert.equal(doc.activeElement.dataset.action, "pause");
  // Paused: Resume (primary) rather than Delete, first or not.
  replaceRows(list, [row(doc, "a", [["delete"], ["download", "small primary"]]), row(doc, "b", [])]);
  assert.equal(doc.activeElement.dataset.action, "download");
  // A disabled button is passed over.
  list.children[0].children[0].focus();
  replaceRows(list, [row(doc, "a", [["use", "small primary", true], ["delete"]])]);
  assert.equal(doc.activeElement.dataset.action, "delete");
  // Focus outside the list is left alone.
  const field = doc.add("input", "instruction");
  field.focus();
  replaceRows(list, [row(doc, "a", [["download", "small primary"]])]);
  assert.equal(doc.activeElement, field);
  assert.equal(rowButton(undefined, "use"), null);
  assert.equal(rowButton(row(doc, "c", [["use", "primary", true]]), "use"), null);
});

test("a saved value the select lacks is added, labelled, and selected", () => {
  const doc = new FakeDocument();
  const select = { ownerDocument: doc, options: [{ value: "auto" }, { value: "q4_k_m" }], value: "auto" };
  select.append = (option) => select.options.push(option);
  selectValue(select, "q4_k_m", "Q4_K_M");
  assert.equal(select.options.length, 2, "already listed: nothing added");
  assert.equal(select.value, "q4_k_m");
  selectValue(select, "q6_k", "Q6_K");
  assert.deepEqual([select.options.at(-1).value, select.options.at(-1).textContent, select.value], ["q6_k", "Q6_K", "q6_k"]);
  selectValue(select, "12");
  assert.equal(select.options.at(-1).textContent, "12");
});

test("the precisions offered are ones the backend accepts, f16 among them", async () => {
  const { readFileSync } = await import("node:fs");
  const html = readFileSync(new URL("../../ui/index.html", import.meta.url), "utf8");
  const select = html.slice(html.indexOf('<select id="precision"'), html.indexOf("</select>", html.indexOf('<select id="precision"')));
  const offered = [...select.matchAll(/value="(\w+)"/g)].map((m) => m[1]);
  const rust = readFileSync(new URL("../../crates/jslm-core/src/precision.rs", import.meta.url), "utf8");
  const accepted = [...rust.matchAll(/^\s+\w+ = "(\w+)", "\w+",/gm)].map((m) => m[1]);
  assert.ok(accepted.includes("f16"), accepted.join());
  assert.ok(offered.includes("f16"), offered.join());
  for (const name of offered) assert.ok(name === "auto" || accepted.includes(name), name);
});

test("focus inside a part the page closed or hid counts as lost", () => {
  const doc = new FakeDocument();
  doc.add("details", "model-change");
  const path = doc.add("input", "model-path", { parent: "model-change" });
  const instruction = doc.add("textarea", "instruction");
  path.focus();
  // A load ends: the model form closes under the focused field (the fake tells it at once).
  doc.getElementById("model-change").hidden = true;
  assert.equal(restoreFocus(doc, path, instruction), true);
  assert.equal(doc.activeElement, instruction);
  // A field still shown keeps it.
  doc.getElementById("model-change").hidden = false;
  path.focus();
  assert.equal(restoreFocus(doc, path, instruction), false);
  assert.equal(doc.activeElement, path);
});
