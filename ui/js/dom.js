// The one way the page builds elements: a tag, a class and text — set with textContent, never
// as HTML (model output and file names are text).

/** A new `tag` of `doc` with `className` and text content (each optional). */
export function element(doc, tag, className, text) {
  const e = doc.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

/**
 * Replaces `list`'s rows with `rows`, keeping the focus where it was: on the button with the
 * same `data-action` in the row with the same `data-key`, or, when the row has no such button
 * now (Download became Pause, Pause became Resume, a deleted model's Delete is gone), on that
 * row's main button. A list re-renders on a new scan, a plan change, a download's step or the
 * language; without this the focused button leaves the page and the focus falls to the body
 * (keyboard users lose their place, and so does the first-step focus).
 */
export function replaceRows(list, rows) {
  const active = list.ownerDocument.activeElement;
  const action = list.contains(active) ? active.dataset?.action : undefined;
  const key = action ? active.closest("li[data-key]")?.dataset.key : undefined;
  list.replaceChildren(...rows);
  if (key === undefined) return;
  const row = [...list.children].find((li) => li.dataset.key === key);
  rowButton(row, action)?.focus({ preventScroll: true });
}

/**
 * The enabled button of `row` that stands in for one with `action`: that action's, else the
 * row's primary one, else its first; null when it has none.
 */
export function rowButton(row, action) {
  const buttons = [...(row?.querySelectorAll("button[data-action]") ?? [])].filter((b) => !b.disabled);
  return buttons.find((b) => b.dataset.action === action)
    ?? buttons.find((b) => b.classList.contains("primary"))
    ?? buttons[0]
    ?? null;
}

/**
 * Selects `value` in `select`, first adding it as an option labelled `label` when the list
 * lacks it: a value saved by hand or by another version (a GPU block count, a precision such
 * as Q6_K) is shown as it is, and can be changed back.
 */
export function selectValue(select, value, label = value) {
  if (![...select.options].some((o) => o.value === value)) {
    const option = select.ownerDocument.createElement("option");
    option.value = value;
    option.textContent = label;
    select.append(option);
  }
  select.value = value;
}
