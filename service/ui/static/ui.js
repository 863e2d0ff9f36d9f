// The dashboard's scripts: the upload's progress, a job's live status (Server-Sent Events) and plots, a race's
// live leaderboard. Pages hand their data over in <script type="application/json"> blocks; no inline code runs.
"use strict";

const CONFIG = { displaylogo: false, responsive: true };
const LAYOUT = { margin: { l: 60, r: 20, t: 40, b: 50 }, font: { size: 12 }, legend: { orientation: "h", y: -0.2 } };

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

function readJson(element) {
  return element ? JSON.parse(element.textContent) : null;
}

function show(id, text) {
  const el = document.getElementById(id);
  if (el) {
    if (text !== undefined) el.textContent = text;
    el.hidden = false;
  }
}

function layout(title, extra) {
  return Object.assign({}, LAYOUT, { title: { text: title, x: 0.02, xanchor: "left" } }, extra || {});
}

function plot(id, traces, title, extra) {
  const el = document.getElementById(id);
  if (!el || !window.Plotly) return;
  window.Plotly.react(el, traces, layout(title, extra), CONFIG);
}

function humanBytes(n) {
  if (n < 1024) return n + " B";
  const units = ["KB", "MB", "GB", "TB"];
  let i = -1;
  do { n /= 1024; i += 1; } while (n >= 1024 && i < units.length - 1);
  return n.toFixed(1) + " " + units[i];
}

async function problemDetail(response) {
  try {
    const body = await response.json();
    return body.detail || body.title || response.statusText;
  } catch (e) {
    return response.status + " " + response.statusText;
  }
}

// -- datasets: the upload form, with its progress ----------------------------------------------------------
function initUpload() {
  const form = document.getElementById("upload-form");
  if (!form) return;
  const bar = document.getElementById("upload-progress");
  const status = document.getElementById("upload-status");
  const button = document.getElementById("upload-button");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData();
    for (const [name, value] of new FormData(form).entries()) {
      if (value instanceof File || String(value).trim() !== "") data.append(name, value);
    }
    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("X-CSRF-Token", csrfToken());
    xhr.setRequestHeader("Accept", "application/json");
    bar.hidden = false;
    bar.value = 0;
    button.disabled = true;
    status.className = "status";
    status.textContent = "Uploading…";
    xhr.upload.addEventListener("progress", (e) => {
      if (!e.lengthComputable) return;
      bar.value = (100 * e.loaded) / e.total;
      status.textContent = `Uploading ${Math.round(bar.value)}% (${humanBytes(e.loaded)} of ${humanBytes(e.total)})`;
    });
    xhr.upload.addEventListener("load", () => {
      bar.value = 100;
      status.textContent = "Uploaded; checking and profiling…";
    });
    xhr.addEventListener("load", () => {
      button.disabled = false;
      let body = {};
      try { body = JSON.parse(xhr.responseText); } catch (e) { body = {}; }
      if (xhr.status === 200 || xhr.status === 201) {
        status.textContent = xhr.status === 201 ? "Stored." : "This file was uploaded before.";
        window.location.assign(body.url);
      } else {
        status.className = "status problem";
        status.textContent = body.detail || body.title || `Upload failed (${xhr.status}).`;
      }
    });
    xhr.addEventListener("error", () => {
      button.disabled = false;
      status.className = "status problem";
      status.textContent = "The upload did not reach the service.";
    });
    xhr.send(data);
  });
}

// -- a job ------------------------------------------------------------------------------------------------
function rounds(values) {
  return values.map((_, i) => i + 1);
}

function drawCurves(job) {
  const c = job.curves || {};
  const marks = job.best_iteration ? { shapes: [{ type: "line", x0: job.best_iteration + 1, x1: job.best_iteration + 1, yref: "paper", y0: 0, y1: 1, line: { dash: "dot", color: "#888" } }] } : {};
  let drawn = false;
  const loss = [];
  if (c.train_loss && c.train_loss.length) loss.push({ x: rounds(c.train_loss), y: c.train_loss, name: "train", mode: "lines+markers" });
  if (c.val_loss && c.val_loss.length) loss.push({ x: rounds(c.val_loss), y: c.val_loss, name: "validation", mode: "lines+markers" });
  if (loss.length) {
    plot("curves-loss", loss, `Loss (${c.loss_name || "loss"}) by round`, Object.assign({ xaxis: { title: { text: "round" } } }, marks));
    drawn = true;
  }
  const metric = [];
  if (c.train_metric && c.train_metric.length) metric.push({ x: rounds(c.train_metric), y: c.train_metric, name: "train", mode: "lines+markers" });
  if (c.val_metric && c.val_metric.length) metric.push({ x: rounds(c.val_metric), y: c.val_metric, name: "validation", mode: "lines+markers" });
  if (metric.length) {
    plot("curves-metric", metric, `${c.metric_name || "metric"} by round`, Object.assign({ xaxis: { title: { text: "round" } } }, marks));
    drawn = true;
  }
  if (!drawn) show("curves-empty");
}

function followJob(job) {
  const series = {};
  const status = document.getElementById("job-status");
  const phase = document.getElementById("job-phase");
  const bar = document.getElementById("job-progress");
  const eta = document.getElementById("job-eta");
  const source = new EventSource(`/ui/data/jobs/${job.id}/events`);
  let failures = 0;
  const update = (data) => {
    status.textContent = data.status;
    status.className = `badge ${data.status}`;
    const p = data.progress || {};
    phase.textContent = p.phase ? `${p.phase}${p.total ? ` ${p.current}/${p.total}` : ""}` : "";
    if (p.fraction !== null && p.fraction !== undefined) bar.value = p.fraction;
    eta.textContent = p.eta_s ? `about ${Math.ceil(p.eta_s)} s left` : "";
    if (p.metrics && p.current) {
      for (const [key, value] of Object.entries(p.metrics)) {
        if (typeof value !== "number") continue;
        const s = series[key] || (series[key] = { x: [], y: [], name: key, mode: "lines+markers" });
        if (s.x[s.x.length - 1] !== p.current) { s.x.push(p.current); s.y.push(value); }
      }
      plot("curves-loss", Object.values(series), "Latest metrics by round (live)", { xaxis: { title: { text: "round" } } });
    }
  };
  source.addEventListener("progress", (e) => { failures = 0; update(JSON.parse(e.data)); });
  source.addEventListener("end", (e) => {
    source.close();
    update(JSON.parse(e.data));
    window.location.reload();  // the finished job's page: curves, diagnosis, metrics and plots
  });
  source.addEventListener("error", () => {
    failures += 1;
    if (failures > 5) source.close();
  });
}

async function drawEvaluation(job) {
  const select = document.getElementById("eval-split");
  if (!select) return;
  const draw = async () => {
    const response = await fetch(`/ui/data/jobs/${job.id}/evaluation?split=${select.value}`, { headers: { Accept: "application/json" } });
    const empty = document.getElementById("eval-empty");
    if (!response.ok) {
      show("eval-empty", await problemDetail(response));
      return;
    }
    empty.hidden = true;
    const ev = await response.json();
    document.getElementById("eval-source").textContent = `${ev.n_rows} rows: ${ev.source}`;
    if (ev.confusion_matrix) {
      const m = ev.confusion_matrix;
      plot("plot-a", [{ type: "heatmap", z: m.counts, x: m.labels, y: m.labels, colorscale: "Blues", reversescale: true, texttemplate: "%{z}", hovertemplate: "actual %{y}<br>predicted %{x}<br>%{z} rows<extra></extra>" }],
        `Confusion matrix (${ev.split})`, { xaxis: { title: { text: "predicted" }, type: "category" }, yaxis: { title: { text: "actual" }, type: "category", autorange: "reversed" } });
    }
    if (ev.roc) {
      const traces = ev.roc.filter((r) => r.fpr.length).map((r) => ({ x: r.fpr, y: r.tpr, mode: "lines", name: `${r.label} (AUC ${r.auc.toFixed(3)})` }));
      traces.push({ x: [0, 1], y: [0, 1], mode: "lines", name: "chance", line: { dash: "dash", color: "#aaa" } });
      plot("plot-b", traces, `ROC (${ev.split})`, { xaxis: { title: { text: "false positive rate" }, range: [0, 1] }, yaxis: { title: { text: "true positive rate" }, range: [0, 1.02] } });
    }
    if (ev.residuals) {
      const r = ev.residuals;
      const residual = r.actual.map((a, i) => a - r.predicted[i]);
      plot("plot-a", [{ x: r.predicted, y: residual, mode: "markers", type: "scatter", name: "rows", marker: { size: 5, opacity: 0.6 } }],
        `Residuals (${ev.split}; RMSE ${r.rmse.toPrecision(4)}, MAE ${r.mae.toPrecision(4)})`,
        { xaxis: { title: { text: "predicted" } }, yaxis: { title: { text: "actual − predicted" }, zeroline: true } });
      const lo = Math.min(...r.actual, ...r.predicted), hi = Math.max(...r.actual, ...r.predicted);
      plot("plot-b", [{ x: r.actual, y: r.predicted, mode: "markers", type: "scatter", name: "rows", marker: { size: 5, opacity: 0.6 } },
        { x: [lo, hi], y: [lo, hi], mode: "lines", name: "perfect", line: { dash: "dash", color: "#aaa" } }],
        `Predicted vs actual (${ev.split})`, { xaxis: { title: { text: "actual" } }, yaxis: { title: { text: "predicted" } } });
    }
  };
  select.addEventListener("change", draw);
  await draw();
}

function drawImportance(groups) {
  const box = document.getElementById("importance");
  if (!box || !groups) return;
  groups.forEach((g, i) => {
    const div = document.createElement("div");
    div.id = `importance-${i}`;
    div.className = "chart";
    box.appendChild(div);
    plot(div.id, [{ type: "bar", orientation: "h", x: g.values.slice().reverse(), y: g.features.slice().reverse() }],
      `Feature importance: ${g.method}`, { margin: { l: 160, r: 20, t: 40, b: 40 }, height: Math.max(300, 22 * g.features.length + 80) });
  });
}

function initJob() {
  const data = readJson(document.getElementById("page-data"));
  if (!data) return;
  drawCurves(data.job);
  if (!data.terminal) {
    followJob(data.job);
    return;
  }
  drawEvaluation(data.job);
  drawImportance(data.importance);
}

// -- a race -------------------------------------------------------------------------------------------------
function drawRace() {
  const data = readJson(document.querySelector("#race-board .race-data"));
  if (!data) return;
  const race = data.race;
  const scored = race.leaderboard.filter((e) => e.score !== null);
  const label = (e) => `${e.position ? e.position + ". " : ""}${e.model}${e.is_baseline ? " (baseline)" : ""}`;
  if (scored.length) {
    plot("race-chart", [
      { type: "bar", name: `validation ${race.primary_metric}`, x: scored.map(label), y: scored.map((e) => e.score),
        error_y: { type: "data", array: scored.map((e) => e.score_sd || 0), visible: true } },
      { type: "bar", name: `test ${race.primary_metric}`, x: scored.map(label), y: scored.map((e) => e.test_score) },
    ], `Leaderboard: ${race.primary_metric} (${race.higher_is_better ? "higher" : "lower"} is better)`, { barmode: "group" });
  }
  const traces = [];
  for (const [jobId, entry] of Object.entries(data.curves)) {
    const c = entry.curves;
    const y = (c.val_loss && c.val_loss.length) ? c.val_loss : c.train_loss;
    if (!y || !y.length) continue;
    const which = (c.val_loss && c.val_loss.length) ? "validation" : "train";
    traces.push({ x: rounds(y), y: y, mode: "lines+markers", name: `${entry.model} (${which} ${c.loss_name || "loss"})`, customdata: [jobId] });
  }
  const empty = document.getElementById("race-curves-empty");
  if (traces.length) {
    if (empty) empty.hidden = true;
    plot("race-curves", traces, "Loss by round, per entry", { xaxis: { title: { text: "round" } }, yaxis: { title: { text: "loss" } } });
  } else if (empty) {
    empty.hidden = false;
  }
}

function followRace() {
  const live = document.getElementById("race-live");
  const board = () => document.getElementById("race-board");
  if (!live || board().dataset.status !== "running") return;
  let last = live.innerHTML;
  const timer = window.setInterval(async () => {
    const response = await fetch(live.dataset.url, { headers: { Accept: "text/html" } });
    if (!response.ok) return;
    const html = await response.text();
    const doc = new DOMParser().parseFromString(html, "text/html");
    const fresh = doc.getElementById("race-board");
    if (!fresh) return;
    if (fresh.outerHTML !== last) {
      board().replaceWith(document.importNode(fresh, true));
      last = fresh.outerHTML;
      drawRace();
    }
    if (fresh.dataset.status !== "running") window.clearInterval(timer);
  }, 1500);
}

function initRace() {
  drawRace();
  followRace();
}

document.addEventListener("DOMContentLoaded", () => {
  const page = document.body.dataset.page;
  if (page === "datasets") initUpload();
  if (page === "job") initJob();
  if (page === "race") initRace();
});
