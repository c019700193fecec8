// Runs the prompt being written into the model's cache a moment after typing stops (the
// backend's `prefill_prompt`), so that Generate finds it there and the answer starts at once
// instead of after the whole prompt. Nothing is sent while an IME is composing (the text is
// not settled yet), nor when Generate could not run now (`request` says so with null).

export class PromptPrefill {
  /**
   * @param {object} options
   * @param {() => object | null} options.request the request Generate would send now, or null
   * @param {(request: object) => Promise<boolean>} options.send `api.prefillPrompt`
   * @param {number} [options.delayMs] quiet time after the last edit
   * @param {{ setTimeout: Function, clearTimeout: Function }} [options.timers] for tests
   */
  constructor({ request, send, delayMs = 600, timers = globalThis }) {
    this.request = request;
    this.send = send;
    this.delayMs = delayMs;
    this.timers = timers;
    this.timer = null;
  }

  /** After an edit (an `input` or `compositionend` event), or when the model became ready. */
  changed(event) {
    if (event?.isComposing) return;
    this.cancel();
    this.timer = this.timers.setTimeout(() => {
      this.timer = null;
      this.flush();
    }, this.delayMs);
  }

  /** Forgets a pending send (Generate was pressed: it runs the prompt itself). */
  cancel() {
    if (this.timer !== null) this.timers.clearTimeout(this.timer);
    this.timer = null;
  }

  flush() {
    const request = this.request();
    if (!request) return;
    // Only a speed-up: a refusal or failure here is Generate's to report.
    Promise.resolve(this.send(request)).catch(() => {});
  }
}
