// Where keyboard focus goes when the page itself takes it away: a focused button that a run
// disables (Generate, Stop, a history entry's regenerate) or a list re-render removes (a
// deleted history entry) leaves focus on the body, and a keyboard user would start again
// from the top. One rule, so it stays predictable: focus moves only when it was lost, never
// away from a control the user has moved to since (a field being typed in keeps it).

/**
 * Focuses `target` when the element focused before the change (`before`) was nothing (the
 * body), or is now disabled, out of the page or not shown (a closed `<details>` hides the
 * model form), and nothing else has taken focus since. Returns whether it moved focus.
 */
export function restoreFocus(doc, before, target) {
  const now = doc.activeElement;
  // Focus went on to something else (the user clicked or tabbed meanwhile): leave it there.
  if (now && now !== doc.body && now !== before) return false;
  const lost = !before || before === doc.body || before.disabled || !before.isConnected || unrendered(before);
  if (!lost || !target) return false;
  target.focus();
  return doc.activeElement === target;
}

/** Whether `el` has no box on the page (hidden itself, or inside something hidden or closed). */
function unrendered(el) {
  return typeof el.getClientRects === "function" && el.getClientRects().length === 0;
}
