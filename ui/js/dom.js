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
 * same `data-action` in the row with the same `data-key`. A list re-renders on a new scan, a
 * plan change or the language; without this the focused button leaves the page and the focus
 * falls to the body (keyboard users lose their place, and so does the first-step focus).
 */
export function replaceRows(list, rows) {
  const active = list.ownerDocument.activeElement;
  const action = list.contains(active) ? active.dataset?.action : undefined;
  const key = action ? active.closest("li[data-key]")?.dataset.key : undefined;
  list.replaceChildren(...rows);
  if (key === undefined) return;
  const row = [...list.children].find((li) => li.dataset.key === key);
  const again = [...(row?.querySelectorAll("button[data-action]") ?? [])].find((b) => b.dataset.action === action);
  again?.focus({ preventScroll: true });
}
