// The one way the page builds elements: a tag, a class and text — set with textContent, never
// as HTML (model output and file names are text).

/** A new `tag` of `doc` with `className` and text content (each optional). */
export function element(doc, tag, className, text) {
  const e = doc.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}
