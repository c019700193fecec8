// What the serve panel says about the local server, in both languages, and how its run-on
// choice survives re-renders (on a fake DOM).
import { test } from "node:test";
import assert from "node:assert/strict";
import { describeServing, ServePanel } from "../../ui/js/serve-panel.js";
import { FakeDocument } from "./fake-dom.js";

test("off, and on with the URL set apart and the counts", () => {
  assert.deepEqual(describeServing("ja", { serving: false }).parts, ["公開していません。"]);
  assert.equal(describeServing("en", null).note, "— off");
  const status = {
    serving: true,
    url: "http://127.0.0.1:8642/v1",
    model: "tiny-mistral",
    requests: { finished: 3, cancelled: 1, failed: 0, refused: 2 },
  };
  const ja = describeServing("ja", status);
  assert.deepEqual(ja.parts, ["公開中: ", "http://127.0.0.1:8642/v1", "（モデル名 tiny-mistral）"]);
  assert.match(ja.counts, /完了 3 件・中止 1 件・失敗 0 件・満員で断った要求 2 件/);
  const en = describeServing("en", status);
  assert.equal(en.parts.join(""), "Serving at http://127.0.0.1:8642/v1 (model name tiny-mistral)");
  assert.equal(en.note, "— on");
});

/** The panel's elements (index.html's serve panel) on a fake DOM, with a fake backend. */
function panel({ saveSettings } = {}) {
  const doc = new FakeDocument();
  for (const id of ["serve-form", "serve-key-form", "remote-form", "remote-key-form"]) doc.add("form", id);
  doc.byId.get("remote-form").hidden = true;
  doc.byId.get("remote-key-form").hidden = true;
  doc.add("input", "backend-local", { name: "backend", value: "local", checked: true });
  doc.add("input", "backend-remote", { name: "backend", value: "remote" });
  doc.add("input", "remote-url", { parent: "remote-form" });
  doc.add("input", "remote-model", { parent: "remote-form" });
  doc.add("input", "remote-key", { parent: "remote-key-form" });
  doc.add("button", "remote-key-clear", { parent: "remote-key-form" });
  for (const id of ["serve-switch", "serve-host", "serve-port"]) doc.add("input", id, { parent: "serve-form" });
  doc.add("input", "serve-key", { parent: "serve-key-form" });
  doc.add("button", "serve-key-clear", { parent: "serve-key-form" });
  for (const id of ["backend-note", "serve-note", "serve-state", "serve-key-state", "remote-key-state", "serve-error-title", "serve-error-detail"]) doc.add("p", id);
  doc.add("div", "serve-error", { hidden: true });
  const status = { serving: false, host: "127.0.0.1", port: 8642, keys: { server: false, remote: false } };
  const api = {
    serveStatus: async () => status,
    setApiKey: async (which) => {
      status.keys[which] = true;
      return status;
    },
    clearApiKey: async () => status,
    saveSettings: saveSettings ?? (async (s) => s),
  };
  const p = new ServePanel(doc, api, { lang: () => "ja" });
  return { doc, p, $: (id) => doc.getElementById(id) };
}

/** The user picks "server" and types a URL, without pressing 使う. */
async function chooseServer($, doc) {
  $("backend-local").checked = false;
  $("backend-remote").checked = true;
  await $("backend-remote").dispatch("change");
  assert.equal($("remote-form").hidden, false, "the server's form opens");
  $("remote-url").focus();
  $("remote-url").value = "http://gpu-server:8000";
  assert.equal(doc.activeElement, $("remote-url"));
}

test("the chosen server form stays open through re-renders until applied", async () => {
  const { doc, p, $ } = panel();
  await p.init({ backend: { kind: "local" } });
  await chooseServer($, doc);
  // The 3-second refresh while serving, a model load, a language switch: all re-render.
  await p.refresh();
  p.render();
  assert.equal($("backend-remote").checked, true);
  assert.equal($("backend-local").checked, false);
  assert.equal($("remote-form").hidden, false);
  assert.equal($("remote-key-form").hidden, false);
  assert.equal(doc.activeElement, $("remote-url"), "focus stays in the field being typed in");
  assert.equal($("remote-url").value, "http://gpu-server:8000");
  // Saving the server's API key re-renders too.
  $("remote-key").value = "sk-secret";
  await $("remote-key-form").dispatch("submit");
  assert.equal($("remote-form").hidden, false);
  assert.equal($("remote-url").value, "http://gpu-server:8000");
  assert.equal($("remote-key-state").textContent, "API キーは保存されています（表示しません）。");
  // What runs is still this computer until 使う.
  assert.equal(p.backend.kind, "local");
  assert.match($("backend-note").textContent, /このコンピューター/);
});

test("a refused server URL keeps the form open; going back to local closes it", async () => {
  const refused = async () => {
    throw { code: "invalid_setting", message: "bad url", field: "backend" };
  };
  const { doc, p, $ } = panel({ saveSettings: refused });
  await p.init({ backend: { kind: "local" } });
  await chooseServer($, doc);
  await $("remote-form").dispatch("submit");
  assert.equal($("serve-error").hidden, false);
  assert.equal($("remote-form").hidden, false, "the URL can be corrected");
  assert.equal($("backend-remote").checked, true);

  const ok = panel();
  await ok.p.init({ backend: { kind: "local" } });
  await chooseServer(ok.$, ok.doc);
  ok.$("backend-remote").checked = false;
  ok.$("backend-local").checked = true;
  await ok.$("backend-local").dispatch("change");
  ok.p.render();
  assert.equal(ok.$("remote-form").hidden, true);
  assert.equal(ok.$("backend-local").checked, true);
});

test("a port typed in full width is served, and shown, in ASCII", async () => {
  const { p, $ } = panel();
  const started = [];
  p.api.startServing = async (host, port) => {
    started.push([host, port]);
    return { serving: false, host, port, keys: { server: false, remote: false } };
  };
  await p.init({ backend: { kind: "local" } });
  $("serve-host").value = "\u3000１２７．０．０．１";
  $("serve-port").value = "８６４３";
  $("serve-switch").checked = true;
  await $("serve-switch").dispatch("change");
  assert.deepEqual(started, [["127.0.0.1", 8643]]);
  assert.equal($("serve-port").value, "8643");
  assert.equal($("serve-host").value, "127.0.0.1");
  // Not a port: refused here, with the field marked.
  for (const bad of ["８０８０ａ", "0x50", "1e3"]) {
    $("serve-port").value = bad;
    $("serve-switch").checked = true;
    await $("serve-switch").dispatch("change");
    assert.equal($("serve-port").getAttribute("aria-invalid"), "true", bad);
  }
  assert.equal(started.length, 1);
});

test("the panel's error is said again in the language switched to", async () => {
  const { p, $, doc } = panel({
    saveSettings: async () => {
      throw { code: "invalid_setting", message: "bad url", field: "backend" };
    },
  });
  let lang = "ja";
  p.lang = () => lang;
  await p.init({ backend: { kind: "local" } });
  await chooseServer($, doc);
  // Refused here: no URL.
  $("remote-url").value = "";
  await $("remote-form").dispatch("submit");
  assert.equal($("serve-error-title").textContent, "サーバーの URL を入力してください。");
  lang = "en";
  p.render();
  assert.equal($("serve-error-title").textContent, "Enter the server's URL.");
  // Refused by the backend: its sentence and its detail follow too.
  $("remote-url").value = "http://x";
  await $("remote-form").dispatch("submit");
  assert.match($("serve-error-title").textContent, /^A setting is out of range/);
  lang = "ja";
  p.render();
  assert.match($("serve-error-title").textContent, /^設定が正しくありません/);
  assert.equal($("serve-error-detail").textContent, "詳細: bad url");
  // A port that is not one: the field named in each language, never "{field}".
  $("serve-port").value = "x";
  $("serve-switch").checked = true;
  await $("serve-switch").dispatch("change");
  assert.equal($("serve-error-title").textContent, "設定が正しくありません（ポート）。");
  lang = "en";
  p.render();
  assert.equal($("serve-error-title").textContent, "A setting is out of range (Port).");
});
