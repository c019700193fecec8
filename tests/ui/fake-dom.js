// A minimal fake DOM for the panels' tests: elements by id with the properties the panels set
// (value, checked, hidden, disabled, text), listeners, and focus the way a browser keeps it —
// a focused element that is then disabled or hidden (itself or an ancestor) loses focus to
// the body, and a heading without tabindex cannot take it. Not a test file itself (node's
// runner picks only `*.test.js` here).

export class FakeElement {
  constructor(doc, tag, { id = "", parent = null, attrs = {} } = {}) {
    this.ownerDocument = doc;
    this.tagName = tag.toUpperCase();
    this.id = id;
    this.parent = parent;
    this.value = "";
    this.checked = false;
    this.hidden = false;
    this.disabled = false;
    this.textContent = "";
    this.className = "";
    this.dataset = {};
    this.children = [];
    this.attributes = new Map(Object.entries(attrs));
    this.listeners = new Map();
  }

  setAttribute(name, value) {
    this.attributes.set(name, String(value));
  }

  getAttribute(name) {
    return this.attributes.has(name) ? this.attributes.get(name) : null;
  }

  hasAttribute(name) {
    return this.attributes.has(name);
  }

  removeAttribute(name) {
    this.attributes.delete(name);
  }

  addEventListener(type, fn) {
    if (!this.listeners.has(type)) this.listeners.set(type, []);
    this.listeners.get(type).push(fn);
  }

  /** Calls the listeners of `type`; resolves once the async ones have settled. */
  async dispatch(type, extra = {}) {
    const event = { type, target: this, preventDefault() {}, ...extra };
    await Promise.all((this.listeners.get(type) ?? []).map((fn) => fn(event)));
    return event;
  }

  append(...nodes) {
    for (const node of nodes) if (node instanceof FakeElement) node.parent = this;
    this.children.push(...nodes);
  }

  replaceChildren(...nodes) {
    for (const node of this.children) if (node instanceof FakeElement) node.parent = null;
    this.children = [];
    this.append(...nodes);
  }

  /** Whether the element is in the page (its ancestors reach the body). */
  get isConnected() {
    for (let n = this; n; n = n.parent) if (n === this.ownerDocument.body) return true;
    return false;
  }

  /** Only `tag[data-key=value]` and `tag[data-key]`, the forms the views use on the fake. */
  querySelectorAll(selector) {
    const match = selectorTest(selector);
    const found = [];
    const walk = (el) => {
      for (const child of el.children) {
        if (!(child instanceof FakeElement)) continue;
        if (match(child)) found.push(child);
        walk(child);
      }
    };
    walk(this);
    return found;
  }

  /** `#id` (an element added to the document under this one), or the first of querySelectorAll. */
  querySelector(selector) {
    if (selector.startsWith("#")) {
      const el = this.ownerDocument.getElementById(selector.slice(1));
      return el && this.contains(el) ? el : null;
    }
    return this.querySelectorAll(selector)[0] ?? null;
  }

  /** The nearest of this element and its ancestors that `selector` (as above) matches. */
  closest(selector) {
    const match = selectorTest(selector);
    for (let n = this; n; n = n.parent) if (match(n)) return n;
    return null;
  }

  get classList() {
    return { contains: (name) => this.className.split(/\s+/).includes(name) };
  }

  /** A box when shown: none while it or an ancestor is hidden, as in a browser. */
  getClientRects() {
    for (let n = this; n; n = n.parent) if (n.hidden) return [];
    return this.isConnected ? [{}] : [];
  }

  contains(node) {
    for (let n = node; n; n = n.parent) if (n === this) return true;
    return false;
  }

  /** Whether a browser would let this element hold focus. */
  get focusable() {
    if (!this.isConnected) return false;
    for (let n = this; n; n = n.parent) if (n.hidden) return false;
    if (this.disabled) return false;
    if (["INPUT", "BUTTON", "TEXTAREA", "SELECT", "A", "SUMMARY"].includes(this.tagName)) return true;
    return this.hasAttribute("tabindex");
  }

  focus() {
    if (this.focusable) this.ownerDocument.focused = this;
  }

  blur() {
    if (this.ownerDocument.focused === this) this.ownerDocument.focused = null;
  }
}

/** A test for `tag[data-key=value]` (the value quoted or not), `tag[data-key]`, or either without the tag. */
function selectorTest(selector) {
  const m = /^(\w*)\[data-(\w+)(?:="?([\w-]+)"?)?\]$/.exec(selector);
  if (!m) throw new Error(`fake DOM: unsupported selector ${selector}`);
  const [, tag, key, value] = m;
  return (el) =>
    (!tag || el.tagName === tag.toUpperCase()) && (value === undefined ? key in el.dataset : el.dataset[key] === value);
}

export class FakeDocument {
  constructor() {
    this.byId = new Map();
    this.focused = null;
    this.body = new FakeElement(this, "body");
  }

  /** Adds an element: `add("input", "remote-url", { parent: "remote-form" })`. */
  add(tag, id, { parent, attrs, ...props } = {}) {
    const el = new FakeElement(this, tag, { id, parent: parent ? this.byId.get(parent) : this.body, attrs });
    Object.assign(el, props);
    this.byId.set(id, el);
    return el;
  }

  getElementById(id) {
    return this.byId.get(id) ?? null;
  }

  /** Only `input[name="…"]`, the one selector the panels use on the fake. */
  querySelectorAll(selector) {
    const name = /^input\[name="([^"]+)"\]$/.exec(selector)?.[1];
    if (!name) throw new Error(`fake DOM: unsupported selector ${selector}`);
    return [...this.byId.values()].filter((el) => el.tagName === "INPUT" && el.name === name);
  }

  createElement(tag) {
    return new FakeElement(this, tag);
  }

  /** Where focus is, as a browser reports it: the body once the focused element cannot hold it. */
  get activeElement() {
    // Once lost, focus does not come back when the element is shown or enabled again.
    if (this.focused && !this.focused.focusable) this.focused = null;
    return this.focused ?? this.body;
  }
}
