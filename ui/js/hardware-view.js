// The "this computer" view: CPU, memory, GPUs, and the device plan for the model with its
// memory fit as a bar, and its warnings in words. Builds DOM with textContent only.
// `formatBytes`, `planLine`, `warningText` and `refusalText` are pure.

import { t } from "./i18n.js";

/** Bytes as decimal GB with one decimal ("5.1 GB"), the unit the plan's messages use. */
export function formatBytes(bytes) {
  if (!Number.isFinite(bytes) || bytes < 0) return "—";
  if (bytes < 1e9) return `${Math.round(bytes / 1e6)} MB`;
  return `${(bytes / 1e9).toFixed(1)} GB`;
}

/**
 * "Q4_K_M" for the backend's `q4_k_m`: a precision's label is its name in capitals, as
 * `Precision::label` says (crates/jslm-core), so no table of precisions lives here.
 */
export function precisionLabel(precision) {
  return String(precision ?? "").toUpperCase();
}

/** Why the plan chose its precision (`PlanReason`), in the UI language. */
export function reasonText(lang, reason) {
  if (!reason) return "";
  return t(lang, `reason_${reason.kind}`, {
    size: formatBytes(reason.weight_bytes),
    preferred: precisionLabel(reason.preferred),
  });
}

/**
 * The numbers and names a warning or refusal carries, as the sentence shows them: byte counts
 * as GB (`needed`, `available`), a precision as its label, a memory pool and a device in
 * words. Text such as a driver's `message` stays as it came.
 */
function noteParams(lang, note) {
  const params = { ...note };
  if ("needed_bytes" in note) params.needed = formatBytes(note.needed_bytes);
  if ("available_bytes" in note) params.available = formatBytes(note.available_bytes);
  if (note.precision) params.precision = precisionLabel(note.precision);
  if (note.pool) params.pool = t(lang, `pool_${note.pool}`);
  if (note.device) params.device = deviceName(note.device);
  return params;
}

/** Why an override would be refused (`RefusalReason`, crates/jslm-hardware), in words. */
export function refusalText(lang, reason) {
  const key = `refusal_${reason?.code}`;
  const text = t(lang, key, noteParams(lang, reason ?? {}));
  // A code this page does not know yet: its name says more than nothing.
  return text === key ? String(reason?.code ?? "") : text;
}

/** A plan's warning (`PlanWarning`, crates/jslm-hardware/src/warning.rs), in the UI language. */
export function warningText(lang, warning) {
  const params = noteParams(lang, warning);
  if (warning.reason) params.reason = refusalText(lang, warning.reason);
  const key = `warning_${warning.code}`;
  const text = t(lang, key, params);
  return text === key ? warning.code : text;
}

/** One line describing a plan's fit, e.g. for the load progress. */
export function planLine(lang, { precision, reason, threads, context_tokens: context, fit }) {
  return t(lang, "plan_line", {
    precision: precisionLabel(precision),
    reason: reasonText(lang, reason),
    threads,
    context,
    needed: formatBytes(fit.needed_bytes),
    available: formatBytes(fit.available_bytes),
    fit: t(lang, `fit_${fit.level}`),
  });
}

/**
 * A model split between a GPU and the CPU (the plan's `split`: `{ gpu_layers, total_layers,
 * gpu_fit }`), in words; `null` when the plan runs on one device.
 */
export function splitText(lang, split) {
  if (!split) return null;
  return t(lang, "plan_split", {
    gpu: split.gpu_layers,
    total: split.total_layers,
    cpu: split.total_layers - split.gpu_layers,
    needed: formatBytes(split.gpu_fit.needed_bytes),
    available: formatBytes(split.gpu_fit.available_bytes),
  });
}

/**
 * A plan's fit as people read it: a badge (comfortable / tight / will not fit), a bar of the
 * memory needed against the memory there is, and `numbers` in words. `fit` is the backend's
 * `{ level, needed_bytes, available_bytes }`.
 */
export function fitView(doc, lang, fit, numbers) {
  const box = doc.createElement("div");
  box.className = "fit";
  const badge = doc.createElement("span");
  badge.className = "badge";
  badge.dataset.level = fit.level;
  badge.textContent = t(lang, `fit_${fit.level}`);
  const meter = doc.createElement("meter");
  meter.min = 0;
  meter.max = Math.max(1, fit.available_bytes);
  meter.value = Math.min(fit.needed_bytes, meter.max);
  meter.low = meter.max * 0.8;
  meter.high = meter.max * 0.999;
  meter.optimum = 0;
  const text = doc.createElement("span");
  text.textContent = numbers;
  meter.setAttribute("aria-label", `${badge.textContent}: ${numbers}`);
  box.append(badge, meter, text);
  return box;
}

const CPU_FEATURES = [
  ["avx2", "AVX2"],
  ["fma", "FMA"],
  ["f16c", "F16C"],
  ["avx512f", "AVX-512"],
  ["avx512vnni", "AVX-512 VNNI"],
  ["avxvnni", "AVX-VNNI"],
  ["amx_int8", "AMX"],
  ["neon", "NEON"],
  ["dotprod", "DotProd"],
];

/** The plan's device (`{ kind: "cpu" }`, `{ kind: "cuda", ordinal }`) as users write it. */
export function deviceName(device) {
  const kind = typeof device === "string" ? device : device?.kind;
  switch (kind) {
    case "cpu": return "CPU";
    case "cuda": return device?.ordinal === undefined ? "CUDA" : `CUDA ${device.ordinal}`;
    case "metal": return "Metal";
    default: return kind ?? "—";
  }
}

/** NVML's encoding (12040) as "12.4". */
function cudaVersion(encoded) {
  return `${Math.floor(encoded / 1000)}.${Math.floor((encoded % 1000) / 10)}`;
}

/**
 * Which build runs and, for the CPU build on a machine with an NVIDIA GPU, why not the CUDA
 * one (gpu_variant.rs). Nothing on machines without an NVIDIA GPU: there it is no news.
 */
export function buildText(lang, variant) {
  if (!variant) return null;
  if (variant.kind === "this_is_cuda") return t(lang, "hw_build_cuda");
  if (variant.kind === "start_twin") return t(lang, "hw_build_twin_failed");
  const reason = variant.reason ?? {};
  switch (reason.reason) {
    case "no_nvidia_gpu": return null;
    case "switched_off": return t(lang, "hw_build_switched_off");
    case "twin_not_installed": return t(lang, "hw_build_no_twin");
    case "driver_too_old": return t(lang, "hw_build_driver_old", {
      cuda: reason.driver_cuda.join("."), needed: reason.needed_major,
    });
    case "driver_version_unknown": return t(lang, "hw_build_driver_unknown");
    case "libraries_missing": return t(lang, "hw_build_libraries", { missing: reason.missing.join(", ") });
    default: return t(lang, "hw_build_cpu");
  }
}

/**
 * The detection's notes (`profile.notes`: `{ code, message }`) as rows: what went wrong in the
 * user's language, with the backend's English details. Above all "an NVIDIA GPU is there but
 * its driver is not running" and NVML errors: without them the page says "GPU: none" beside a
 * card the user can see in the machine. `describeError` is errors.js's (passed in, as to
 * `renderHardware`: errors.js imports this module).
 */
export function noteRows(lang, notes, describeError) {
  return (notes ?? []).map((note) => {
    const { title, detail } = describeError(lang, note);
    return [t(lang, "hw_note"), detail ? `${title} ${detail}` : title];
  });
}

/** Fills `root` with the report (`{ profile, plan, plan_error }`). */
export function renderHardware(root, lang, report, describeError) {
  const doc = root.ownerDocument;
  const { profile, plan } = report;
  const rows = [];
  const cpu = profile.cpu;
  const features = CPU_FEATURES.filter(([key]) => cpu.features?.[key]).map(([, label]) => label);
  rows.push([t(lang, "hw_cpu"), `${cpu.brand} (${cpu.arch})`]);
  rows.push([t(lang, "hw_cores"), t(lang, "hw_cores_value", { physical: cpu.physical_cores, logical: cpu.logical_cores })]);
  rows.push([t(lang, "hw_features"), features.length ? features.join(" · ") : t(lang, "hw_none")]);
  rows.push([t(lang, "hw_memory"), t(lang, "hw_memory_value", { available: formatBytes(profile.memory.available_bytes), total: formatBytes(profile.memory.total_bytes) })]);
  const gpus = profile.nvidia_gpus.map((g) => `${g.name} (${formatBytes(g.free_vram_bytes)} / ${formatBytes(g.total_vram_bytes)})`);
  if (profile.apple_gpu) gpus.push(profile.apple_gpu.name ?? "Apple GPU");
  rows.push([t(lang, "hw_gpu"), gpus.length ? gpus.join(", ") : t(lang, "hw_none")]);
  if (profile.nvidia_driver) {
    const cuda = profile.nvidia_driver_cuda;
    rows.push([t(lang, "hw_driver"), cuda
      ? t(lang, "hw_driver_value", { version: profile.nvidia_driver, cuda: cudaVersion(cuda) })
      : profile.nvidia_driver]);
  }
  const build = buildText(lang, profile.gpu_variant);
  if (build) rows.push([t(lang, "hw_build"), build]);
  rows.push(...noteRows(lang, profile.notes, describeError));

  const dl = doc.createElement("dl");
  dl.className = "facts";
  for (const [k, v] of rows) {
    const div = doc.createElement("div");
    const dt = doc.createElement("dt");
    dt.textContent = k;
    const dd = doc.createElement("dd");
    dd.textContent = v;
    div.append(dt, dd);
    dl.append(div);
  }
  const parts = [dl];

  const heading = doc.createElement("h3");
  heading.textContent = t(lang, "hw_plan_heading");
  parts.push(heading);
  if (plan) {
    const summary = doc.createElement("p");
    summary.textContent = t(lang, "hw_plan_value", {
      model: plan.model,
      device: deviceName(plan.device),
      precision: precisionLabel(plan.precision),
      threads: plan.threads,
      context: plan.context_tokens,
    });
    const why = doc.createElement("p");
    why.className = "plan-reason";
    why.textContent = t(lang, "hw_plan_reason", { reason: reasonText(lang, plan.reason) });
    const fit = fitView(doc, lang, plan.fit, t(lang, "hw_fit_numbers", {
      needed: formatBytes(plan.fit.needed_bytes),
      available: formatBytes(plan.fit.available_bytes),
    }));
    parts.push(summary);
    const split = splitText(lang, plan.split);
    if (split) {
      const p = doc.createElement("p");
      p.className = "plan-split";
      p.textContent = split;
      parts.push(p);
    }
    parts.push(why, fit);
    if (plan.warnings.length) {
      const ul = doc.createElement("ul");
      ul.className = "warnings";
      for (const w of plan.warnings) {
        const li = doc.createElement("li");
        li.textContent = warningText(lang, w);
        ul.append(li);
      }
      parts.push(ul);
    }
  } else {
    const p = doc.createElement("p");
    p.className = "hint";
    p.textContent = report.plan_error ? describeError(lang, report.plan_error).title : t(lang, "hw_no_model");
    parts.push(p);
  }
  root.replaceChildren(...parts);
}
