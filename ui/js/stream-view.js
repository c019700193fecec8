// Renders a streamed answer. Tokens arrive one channel message each; the DOM is touched at
// most once per animation frame (one appended Text node holding every token since the last
// frame), so a 4,096-token answer never stalls the window.
//
// Model output is text, never markup: it only ever enters the DOM as Text nodes
// (`document.createTextNode` / `textContent`), so `<script>` or `<img onerror>` in an answer
// shows as those characters.

/** Live figures of one generation, as shown under the output. */
export function emptyStats() {
  return {
    running: false,
    tokens: 0,
    ttftMs: null,
    tokensPerS: null,
    stopReason: null,
    seed: null,
    /** Leading prompt tokens taken from the last prompt's cache (no work for them). */
    reusedTokens: 0,
  };
}

/**
 * Live figures are redrawn at most this often (ms): numbers changing every frame cannot be
 * read anyway, and each redraw costs the frame a style and layout pass.
 */
export const STATS_INTERVAL_MS = 250;

export class StreamView {
  /**
   * @param {HTMLElement} output where the answer goes
   * @param {object} options
   * @param {(stats: object) => void} [options.onStats] called at most once per frame
   * @param {(cb: FrameRequestCallback) => number} [options.requestFrame]
   * @param {() => number} [options.now]
   */
  constructor(output, options = {}) {
    this.output = output;
    this.onStats = options.onStats ?? (() => {});
    this.requestFrame = options.requestFrame ?? ((cb) => requestAnimationFrame(cb));
    this.now = options.now ?? (() => performance.now());
    this.pending = [];
    this.framePending = false;
    /** When a generation not yet accepted by the backend was requested (ms), or null. */
    this.requestedAt = null;
    this.reset();
  }

  /**
   * A new generation was requested at `requestedAt` (ms). The answer on screen stays until the
   * backend accepts it (its `started` event begins the new one), so a refused request (a
   * setting out of range, too long, busy) leaves the last answer, and its stats, as they were.
   */
  request(requestedAt = this.now()) {
    this.requestedAt = requestedAt;
  }

  /** Clears the output for a new generation that was requested at `startedAt` (ms). */
  begin(startedAt = this.now()) {
    this.requestedAt = null;
    this.reset();
    this.startedAt = startedAt;
    this.stats.running = true;
    this.emitStats();
  }

  reset() {
    this.output.textContent = "";
    this.pending.length = 0;
    this.leading = true;
    this.startedAt = this.now();
    this.firstTokenAt = null;
    this.lastStatsAt = -Infinity;
    this.stats = emptyStats();
  }

  emitStats() {
    this.lastStatsAt = this.now();
    this.onStats({ ...this.stats });
  }

  /** The channel's `onmessage`: one `GenerationEvent` (`{ event, data }`). */
  handle(message) {
    switch (message?.event) {
      case "started":
        if (this.requestedAt !== null) this.begin(this.requestedAt);
        this.stats.seed = message.data.seed;
        this.schedule();
        break;
      case "token": {
        const now = this.now();
        if (this.firstTokenAt === null) {
          this.firstTokenAt = now;
          this.stats.ttftMs = now - this.startedAt;
        }
        this.stats.tokens += 1;
        if (this.stats.tokens > 1) {
          this.stats.tokensPerS = ((this.stats.tokens - 1) * 1000) / Math.max(1, now - this.firstTokenAt);
        }
        const text = message.data.text;
        if (text) this.pending.push(text);
        this.schedule();
        break;
      }
      case "finished": {
        const s = message.data.stats;
        this.stats.running = false;
        this.stats.stopReason = message.data.reason;
        this.stats.tokens = s.generated_tokens;
        this.stats.ttftMs = s.ttft_ms;
        this.stats.tokensPerS = s.decode_tokens_per_s;
        this.stats.seed = s.seed;
        this.stats.reusedTokens = s.reused_prompt_tokens ?? 0;
        // The last tokens are shown now, not a frame later.
        this.flush();
        break;
      }
      default:
        break;
    }
  }

  /** Shows a finished answer (a history entry) with its stats. */
  showStatic(text, stats) {
    this.reset();
    this.output.textContent = text;
    this.stats = { ...emptyStats(), ...stats, running: false };
    this.emitStats();
  }

  /**
   * Marks the generation as ended without a `finished` event (an error). One that never
   * started leaves the last answer on screen.
   */
  abort() {
    if (this.requestedAt !== null) {
      this.requestedAt = null;
      return;
    }
    this.stats.running = false;
    this.flush();
  }

  /** The answer as shown. */
  text() {
    return this.output.textContent;
  }

  schedule() {
    if (this.framePending) return;
    this.framePending = true;
    this.requestFrame(() => {
      this.framePending = false;
      this.flush();
    });
  }

  flush() {
    if (this.pending.length > 0) {
      let chunk = this.pending.join("");
      this.pending.length = 0;
      if (this.leading) {
        // The card prints `out.strip()`: leading whitespace of the answer is not shown.
        chunk = chunk.replace(/^\s+/, "");
        if (chunk) this.leading = false;
      }
      if (chunk) {
        const el = this.output;
        const atBottom = el.scrollHeight - el.scrollTop - el.clientHeight < 48;
        el.appendChild(el.ownerDocument.createTextNode(chunk));
        if (atBottom) el.scrollTop = el.scrollHeight;
      }
    }
    if (!this.stats.running || this.now() - this.lastStatsAt >= STATS_INTERVAL_MS) this.emitStats();
  }
}
