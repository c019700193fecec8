// The prompt is sent ahead a moment after typing stops: once per pause, never mid-composition,
// never when Generate could not run.
import { test } from "node:test";
import assert from "node:assert/strict";
import { PromptPrefill } from "../../ui/js/prompt-prefill.js";

function fakeTimers() {
  let next = 1;
  const pending = new Map();
  return {
    setTimeout(fn, ms) {
      pending.set(next, { fn, ms });
      return next++;
    },
    clearTimeout(id) {
      pending.delete(id);
    },
    /** Runs what is due (every timer here has the same delay). */
    elapse() {
      const due = [...pending.values()];
      pending.clear();
      for (const { fn } of due) fn();
    },
    get count() {
      return pending.size;
    },
  };
}

function setup(request = { instruction: "日本の首都は？", input: "", settings: {} }) {
  const timers = fakeTimers();
  const sent = [];
  const current = { request };
  const prefill = new PromptPrefill({
    request: () => current.request,
    send: (r) => {
      sent.push(r);
      return Promise.resolve(true);
    },
    delayMs: 600,
    timers,
  });
  return { timers, sent, prefill, current };
}

test("edits in a row send once, after the pause", () => {
  const { timers, sent, prefill } = setup();
  prefill.changed({ isComposing: false });
  prefill.changed({ isComposing: false });
  prefill.changed({ isComposing: false });
  assert.equal(sent.length, 0);
  assert.equal(timers.count, 1, "each edit restarts the one timer");
  timers.elapse();
  assert.deepEqual(sent, [{ instruction: "日本の首都は？", input: "", settings: {} }]);
});

test("nothing is sent while an IME composes; its end counts as an edit", () => {
  const { timers, sent, prefill } = setup();
  prefill.changed({ isComposing: true });
  assert.equal(timers.count, 0);
  prefill.changed({ type: "compositionend" });
  timers.elapse();
  assert.equal(sent.length, 1);
});

test("nothing is sent when Generate could not run, or after Generate took over", () => {
  const { timers, sent, prefill, current } = setup();
  current.request = null;
  prefill.changed();
  timers.elapse();
  assert.equal(sent.length, 0);
  current.request = { instruction: "a", input: "", settings: {} };
  prefill.changed();
  prefill.cancel();
  timers.elapse();
  assert.equal(sent.length, 0);
});

test("a refused send is swallowed", async () => {
  const timers = fakeTimers();
  const prefill = new PromptPrefill({
    request: () => ({ instruction: "a", input: "", settings: {} }),
    send: () => Promise.reject({ code: "busy" }),
    timers,
  });
  prefill.changed();
  timers.elapse();
  await new Promise((resolve) => setImmediate(resolve));
});
