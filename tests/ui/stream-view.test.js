// The streaming renderer with a minimal fake DOM and a manual frame clock: batching per frame,
// leading-whitespace stripping, stats, and text-only insertion.
import { test } from "node:test";
import assert from "node:assert/strict";
import { StreamView } from "../../ui/js/stream-view.js";

class FakeText {
  constructor(data) {
    this.data = data;
  }
}

class FakeElement {
  constructor() {
    this.children = [];
    this.appends = 0;
    this.scrollTop = 0;
    this.clientHeight = 100;
    this.ownerDocument = { createTextNode: (s) => new FakeText(s) };
  }
  get textContent() {
    return this.children.map((c) => c.data).join("");
  }
  set textContent(v) {
    this.children = v ? [new FakeText(v)] : [];
  }
  get scrollHeight() {
    return 100 + this.textContent.length;
  }
  appendChild(node) {
    assert.ok(node instanceof FakeText, "only text nodes are appended");
    this.appends += 1;
    this.children.push(node);
  }
}

function setup() {
  const output = new FakeElement();
  const frames = [];
  let clock = 0;
  const stats = [];
  const view = new StreamView(output, {
    requestFrame: (cb) => frames.push(cb),
    now: () => clock,
    onStats: (s) => stats.push(s),
  });
  const runFrame = () => frames.splice(0).forEach((cb) => cb());
  return { output, frames, view, stats, runFrame, tick: (ms) => (clock += ms) };
}

const token = (text) => ({ event: "token", data: { id: 1, text } });

test("tokens are written once per frame, as text", () => {
  const { output, view, runFrame, frames, tick } = setup();
  view.begin(0);
  view.handle({ event: "started", data: { prompt_tokens: 5, seed: 9 } });
  for (const piece of ["  ", "こん", "にちは", "<img src=x onerror=alert(1)>"]) {
    tick(10);
    view.handle(token(piece));
  }
  assert.equal(frames.length, 1, "one frame requested for many tokens");
  assert.equal(output.appends, 0, "nothing written before the frame");
  runFrame();
  assert.equal(output.appends, 1);
  assert.equal(output.textContent, "こんにちは<img src=x onerror=alert(1)>");
  view.handle(token(" 続き"));
  runFrame();
  assert.equal(output.appends, 2);
  assert.equal(view.text(), "こんにちは<img src=x onerror=alert(1)> 続き", "inner spaces are kept");
});

test("live stats, then the engine's final stats", () => {
  const { view, stats, runFrame, tick } = setup();
  view.begin(0);
  tick(250);
  view.handle(token("a"));
  tick(100);
  view.handle(token("b"));
  tick(100);
  view.handle(token("c"));
  runFrame();
  const live = stats.at(-1);
  assert.equal(live.running, true);
  assert.equal(live.tokens, 3);
  assert.equal(live.ttftMs, 250);
  assert.equal(live.tokensPerS, 10);
  view.handle({
    event: "finished",
    data: {
      reason: "max_tokens",
      stats: { generated_tokens: 3, ttft_ms: 240.5, decode_tokens_per_s: 11.5, seed: 42, prompt_tokens: 5, reused_prompt_tokens: 4, prompt_tokens_per_s: 1, total_ms: 500 },
    },
  });
  const last = stats.at(-1);
  assert.deepEqual(
    { running: last.running, tokens: last.tokens, ttft: last.ttftMs, tps: last.tokensPerS, stop: last.stopReason, seed: last.seed, reused: last.reusedTokens },
    { running: false, tokens: 3, ttft: 240.5, tps: 11.5, stop: "max_tokens", seed: 42, reused: 4 },
  );
});

test("live stats are redrawn at most every STATS_INTERVAL_MS", () => {
  const { view, stats, runFrame, tick } = setup();
  view.begin(0);
  const before = stats.length;
  for (let i = 0; i < 20; i++) {
    tick(16);
    view.handle(token("x"));
    runFrame();
  }
  // 20 frames over 320 ms: one redraw (at ≥ 250 ms), not twenty.
  assert.equal(stats.length - before, 1);
  view.handle({ event: "finished", data: { reason: "eos", stats: { generated_tokens: 20, ttft_ms: 16, decode_tokens_per_s: 60, seed: 1 } } });
  assert.equal(stats.at(-1).running, false, "the final figures are shown at once");
});

test("finished flushes immediately; begin clears the previous answer", () => {
  const { output, view } = setup();
  view.begin(0);
  view.handle(token("最後"));
  view.handle({ event: "finished", data: { reason: "eos", stats: { generated_tokens: 1, ttft_ms: 1, decode_tokens_per_s: 0, seed: 1 } } });
  assert.equal(output.textContent, "最後");
  view.begin(0);
  assert.equal(output.textContent, "");
});

test("a whitespace-only start is held until text arrives", () => {
  const { output, view, runFrame } = setup();
  view.begin(0);
  view.handle(token("\n"));
  runFrame();
  assert.equal(output.appends, 0);
  view.handle(token(" 答"));
  runFrame();
  assert.equal(output.textContent, "答");
});

test("4,096 tokens in one burst cost one DOM write", () => {
  const { output, view, runFrame } = setup();
  view.begin(0);
  for (let i = 0; i < 4096; i++) view.handle(token("あ"));
  runFrame();
  assert.equal(output.appends, 1);
  assert.equal(view.text().length, 4096);
});

test("a refused request leaves the last answer and its stats; an accepted one replaces them", () => {
  const { output, view, stats, runFrame, tick } = setup();
  view.begin(0);
  view.handle(token("前の回答"));
  view.handle({ event: "finished", data: { reason: "eos", stats: { generated_tokens: 1, ttft_ms: 5, decode_tokens_per_s: 0, seed: 7 } } });
  const shown = stats.at(-1);
  // Refused before it started (a setting out of range, too long, a model loading, busy).
  view.request(100);
  view.abort();
  runFrame();
  assert.equal(output.textContent, "前の回答");
  assert.equal(view.text(), "前の回答", "Copy still has it");
  assert.deepEqual(stats.at(-1), shown, "its stats too");
  // Accepted: the answer is cleared when the backend starts, and timed from the request.
  view.request(200);
  assert.equal(output.textContent, "前の回答", "kept while the request waits its turn");
  tick(500);
  view.handle({ event: "started", data: { prompt_tokens: 5, seed: 8 } });
  assert.equal(output.textContent, "");
  assert.equal(stats.at(-1).running, true);
  view.handle(token("新しい"));
  runFrame();
  assert.equal(output.textContent, "新しい");
  assert.equal(view.stats.ttftMs, 300);
  assert.equal(view.stats.seed, 8);
  // Failing once started keeps what came (a server cut off mid-answer).
  view.abort();
  assert.equal(output.textContent, "新しい");
  assert.equal(stats.at(-1).running, false);
});
