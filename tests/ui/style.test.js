// The style sheet's colours: text that says something (a fit badge) is readable, WCAG AA
// (4.5:1), on every background it is drawn on, in the light and the dark scheme.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

const css = readFileSync(new URL("../../ui/style.css", import.meta.url), "utf8");

/** The custom properties of the first `:root { … }` after `from` in the style sheet. */
function colours(from) {
  const start = css.indexOf(":root {", css.indexOf(from));
  const block = css.slice(start, css.indexOf("}", start));
  return Object.fromEntries([...block.matchAll(/--([\w-]+):\s*(#[0-9a-f]{6});/gi)].map((m) => [m[1], m[2]]));
}

function luminance(hex) {
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255)
    .map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

function contrast(a, b) {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

test("the fit badges read at 4.5:1 on the panel, the page and a candidate, light and dark", () => {
  const light = colours("");
  const dark = { ...light, ...colours("prefers-color-scheme: dark") };
  const badge = (level) => new RegExp(`\\.badge\\[data-level="${level}"\\] \\{ color: var\\(--([\\w-]+)\\); \\}`).exec(css)[1];
  for (const [scheme, c] of [["light", light], ["dark", dark]]) {
    for (const level of ["comfortable", "tight", "will_not_fit"]) {
      const ink = c[badge(level)];
      for (const bg of ["panel", "bg", "accent-soft"]) {
        const ratio = contrast(ink, c[bg]);
        assert.ok(ratio >= 4.5, `${scheme} ${level} (${ink}) on --${bg} (${c[bg]}): ${ratio.toFixed(2)}:1`);
      }
    }
  }
});
