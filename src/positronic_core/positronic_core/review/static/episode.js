"use strict";
// The episode page: cameras, plots and the inference timeline on one clock; scoring and clip export.
//
// Time t is seconds from the episode's first sample. A video's currentTime is not t (upstream tags its mp4s at a
// nominal 100 fps, ours at the mean recorded rate, and neither carries the frames' jitter): t maps to a frame
// index through the recorded frame times, and the frame index to a media time through the server's `media_times`. While playing, a page clock drives t; each
// video plays at the rate that keeps it on that clock and is re-seeked only if it drifts by more than 2 frames.

const ref = decodeURIComponent(location.pathname.slice("/episode/".length));
const pageParams = new URLSearchParams(location.search);
const tableParams = tableQuery(pageParams);
const view = {
  t: 0, duration: 0, playing: false, speed: 1, lastNow: 0, info: null,
  videos: [], plots: [], timeline: null, axis: null, clip: [null, null], stepS: 1 / 15,
};

function withTable(path) {
  const query = tableParams.toString();
  return query ? `${path}?${query}` : path;
}

function episodeHref(otherRef) {
  return withTable(`/episode/${otherRef.split("/").map(encodeURIComponent).join("/")}`);
}

function message(text) {
  const box = document.getElementById("message");
  box.hidden = !text;
  box.textContent = text || "";
}

function lastIndexAtOrBefore(times, t) {
  let low = 0, high = times.length - 1, found = -1;
  while (low <= high) {
    const mid = (low + high) >> 1;
    if (times[mid] <= t + 1e-9) { found = mid; low = mid + 1; } else high = mid - 1;
  }
  return found;
}

// --- videos ------------------------------------------------------------------------------------------------

class CameraView {
  constructor(container, info) {
    this.info = info;
    this.frames = info.frame_times;
    this.media = info.media_times;
    const count = this.media.length;
    this.halfFrame = count > 1 ? (this.media[1] - this.media[0]) / 2 : 0.005;
    const realSpan = count > 1 ? this.frames[count - 1] - this.frames[0] : 0;
    const mediaSpan = count > 1 ? this.media[count - 1] - this.media[0] : 0;
    this.mediaPerSecond = realSpan > 0 ? mediaSpan / realSpan : 1;
    this.src = `/api/video?ep=${encodeURIComponent(ref)}&cam=${encodeURIComponent(info.name)}`;
    this.video = el("video", {muted: true, playsinline: true, preload: "auto", src: this.src,
                              "data-camera": info.name, title: info.name});
    this.video.muted = true;
    this.box = el("div", {class: "video"}, this.video, el("span", {class: "label", text: info.name}));
    container.append(this.box);
    this.video.addEventListener("error", () => this.fallBackToStills());
    this.still = null;
  }

  frameAt(t) {
    return Math.max(0, lastIndexAtOrBefore(this.frames, t));
  }

  mediaTimeAt(t) {
    const i = this.frameAt(t);
    return this.media[i] + this.halfFrame;
  }

  // Chromium builds without H.264 cannot play the recording; show decoded stills from the server instead.
  fallBackToStills() {
    if (this.still) return;
    this.still = el("img", {alt: this.info.name, "data-camera": this.info.name});
    this.video.replaceWith(this.still);
    this.stillIndex = -1;
    message("This browser cannot play the H.264 videos; showing single frames decoded by the server instead.");
    this.show(view.t, false);
  }

  show(t, playing) {
    if (this.still) {
      const index = this.frameAt(t);
      if (index !== this.stillIndex) {
        this.stillIndex = index;
        this.still.src = `/api/frame?ep=${encodeURIComponent(ref)}&cam=${encodeURIComponent(this.info.name)}&i=${index}`;
      }
      return;
    }
    const target = this.mediaTimeAt(t);
    if (playing) {
      const rate = Math.min(16, Math.max(0.0625, view.speed * this.mediaPerSecond));
      if (Math.abs(this.video.playbackRate - rate) > 1e-6) this.video.playbackRate = rate;
      if (this.video.paused) this.video.play().catch(() => {});
      if (Math.abs(this.video.currentTime - target) > 4 * this.halfFrame + 0.001) this.video.currentTime = target;
    } else {
      if (!this.video.paused) this.video.pause();
      if (Math.abs(this.video.currentTime - target) > 1e-4) this.video.currentTime = target;
    }
  }
}

// --- clock -------------------------------------------------------------------------------------------------

function setTime(t, fromPlayback) {
  view.t = Math.max(0, Math.min(view.duration, t));
  document.getElementById("time").textContent =
    `${formatSeconds(view.t)} / ${formatSeconds(view.duration)}`;
  const scrubber = document.getElementById("scrubber");
  if (document.activeElement !== scrubber || fromPlayback) scrubber.value = String(view.t);
  for (const camera of view.videos) camera.show(view.t, view.playing);
  for (const plot of view.plots) plot.drawAt(view.t);
  if (view.timeline) view.timeline.drawAt(view.t);
}

function tick(now) {
  if (!view.playing) return;
  view.t += ((now - view.lastNow) / 1000) * view.speed;
  view.lastNow = now;
  if (view.t >= view.duration) {
    setTime(view.duration, true);
    pause();
    return;
  }
  setTime(view.t, true);
  requestAnimationFrame(tick);
}

function play() {
  if (view.playing) return;
  if (view.t >= view.duration - 1e-6) view.t = 0;
  view.playing = true;
  view.lastNow = performance.now();
  document.getElementById("play").textContent = "❚❚ Pause";
  setTime(view.t, true);
  requestAnimationFrame(tick);
}

function pause() {
  view.playing = false;
  document.getElementById("play").textContent = "▶ Play";
  setTime(view.t, false);
}

function step(direction, seconds) {
  if (view.playing) pause();
  if (seconds) { setTime(view.t + direction * seconds); return; }
  // One frame of the first camera (or one control tick when there is none).
  const camera = view.videos[0];
  if (!camera) { setTime(view.t + direction * view.stepS); return; }
  // Forward: the first frame after t; back: the last frame before it (t may sit between frames after playing).
  const frames = camera.frames;
  let index = direction > 0 ? lastIndexAtOrBefore(frames, view.t + 1e-6) + 1
                            : lastIndexAtOrBefore(frames, view.t - 1e-6);
  index = Math.max(0, Math.min(frames.length - 1, index));
  setTime(frames[index]);
}

// --- building the page -------------------------------------------------------------------------------------

async function load() {
  let info;
  try {
    info = await fetchJSON(withTable(`/api/episode`) + `${tableParams.toString() ? "&" : "?"}ep=${encodeURIComponent(ref)}`);
  } catch (err) {
    message(`Cannot open episode ${ref}: ${err.message}`);
    return;
  }
  view.info = info;
  view.duration = info.duration_s;
  const row = info.row;
  document.title = `Episode ${row.ref} · Positronic review`;
  document.getElementById("title").textContent = `Episode ${row.episode_id}` +
    (row.dataset && row.dataset !== "." ? ` · ${row.dataset}` : "");
  document.getElementById("task").textContent = row.task;
  document.getElementById("back").href = withTable("/");
  renderOutcome(row);
  const clipOf = document.getElementById("clip-of");
  clipOf.hidden = !row.clip_of;
  clipOf.textContent = row.clip_of ? `clip of ${row.clip_of} (not an evaluation run)` : "";
  setupNeighbours(info.neighbours);
  renderStatics(info);
  view.axis = new TimeAxis(view.duration);
  const scrubber = document.getElementById("scrubber");
  scrubber.max = String(view.duration);
  scrubber.step = "0.001";

  const videos = document.getElementById("videos");
  for (const camera of info.videos) view.videos.push(new CameraView(videos, camera));
  if (view.videos.length && view.videos[0].frames.length > 1) {
    const f = view.videos[0].frames;
    view.stepS = (f[f.length - 1] - f[0]) / (f.length - 1);
  }

  const wanted = new Set(info.timeline);
  for (const panel of info.panels) for (const series of panel.series) wanted.add(series.signal);
  let data = {};
  if (wanted.size) {
    try {
      const names = [...wanted].map(encodeURIComponent).join(",");
      data = (await fetchJSON(`/api/signals?ep=${encodeURIComponent(ref)}&names=${names}`)).signals;
    } catch (err) {
      message(`Cannot load signals: ${err.message}`);
    }
  }
  const plots = document.getElementById("plots");
  const seek = (t) => { if (view.playing) pause(); setTime(t); };
  for (const panel of info.panels) view.plots.push(new SignalPlot(plots, panel, data, view.axis, seek));
  view.timeline = new Timeline(document.getElementById("timeline"), view.axis, data, seek);

  setupScore(info);
  setupExport(info);
  const start = parseFloat(pageParams.get("t"));
  setTime(Number.isFinite(start) ? start : 0);
  window.addEventListener("resize", () => {
    for (const plot of view.plots) plot.background = null;
    view.timeline.background = null;
    setTime(view.t);
  });
  document.body.dataset.ready = "1";
}

function renderOutcome(row) {
  const badge = document.getElementById("outcome-badge");
  badge.replaceChildren(outcomeBadge(row.outcome, row.outcome_source));
}

function setupNeighbours(neighbours) {
  const prev = document.getElementById("prev-episode");
  const next = document.getElementById("next-episode");
  prev.disabled = !neighbours.prev;
  next.disabled = !neighbours.next;
  prev.onclick = () => { if (neighbours.prev) location.href = episodeHref(neighbours.prev); };
  next.onclick = () => { if (neighbours.next) location.href = episodeHref(neighbours.next); };
  document.getElementById("position").textContent = neighbours.position === null ? ""
    : `${neighbours.position + 1} of ${neighbours.total}`;
}

function renderValue(value) {
  if (value === null || value === undefined) return "null";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

// A dotted key may break after each dot (`inference.policy.server.…`) rather than inside a word.
function keyCell(key) {
  const cell = el("td", {title: key});
  key.split(".").forEach((part, i) => {
    if (i) cell.append(".", el("wbr", {}));
    cell.append(part);
  });
  return cell;
}

function fillKv(table, entries) {
  table.replaceChildren();
  for (const [key, value] of entries) {
    const text = renderValue(value);
    table.append(el("tr", {}, keyCell(key), el("td", {text: text.length > 400 ? `${text.slice(0, 400)}…` : text,
                                                      title: text.length > 400 ? text : null})));
  }
}

function renderStatics(info) {
  fillKv(document.getElementById("statics"), Object.entries(info.static).sort(([a], [b]) => a.localeCompare(b)));
  fillKv(document.getElementById("meta"), Object.entries(info.meta));
  fillKv(document.getElementById("signal-list"), info.signals.map((s) =>
    [s.name, `${s.kind}${s.width > 1 ? `[${s.width}]` : ""}, ${counted(s.samples, "sample")}`]));
}

// --- scoring -----------------------------------------------------------------------------------------------

function setupScore(info) {
  const form = document.getElementById("score-form");
  const row = info.row;
  const score = info.score;
  const current = score && score.outcome ? score : null;
  const outcome = current ? current.outcome : "";
  for (const radio of form.querySelectorAll("input[name=outcome]")) radio.checked = radio.value === outcome;
  document.getElementById("items-ok").value = current && current.items_successful !== null ? current.items_successful : "";
  document.getElementById("items-total").value = current && current.items_total !== null ? current.items_total : "";
  document.getElementById("failure-mode").value = current ? current.failure_mode : "";
  document.getElementById("notes").value = current ? current.notes : "";
  document.getElementById("score-status").textContent = current
    ? `saved ${new Date(current.ts_ns / 1e6).toLocaleString()}` : "not scored by hand";
  document.getElementById("auto-verdict").textContent = row.auto_outcome
    ? `Recorded verdict: ${row.auto_outcome} (from ${row.outcome_source === "manual" ? "recording" : row.outcome_source}); a saved score overrides it.`
    : "No recorded verdict for this episode.";
  loadFailureModes();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const chosen = form.querySelector("input[name=outcome]:checked");
    const ok = document.getElementById("items-ok").value;
    const total = document.getElementById("items-total").value;
    const body = {
      ep: ref,
      outcome: chosen && chosen.value ? chosen.value : null,
      items_successful: ok === "" ? null : Number(ok),
      items_total: total === "" ? null : Number(total),
      failure_mode: document.getElementById("failure-mode").value,
      notes: document.getElementById("notes").value,
    };
    const status = document.getElementById("score-status");
    status.className = "muted";
    status.textContent = "saving…";
    try {
      const saved = await postJSON("/api/score", body);
      status.className = "status-ok";
      status.textContent = `saved ${new Date(saved.score.ts_ns / 1e6).toLocaleTimeString()}`;
      renderOutcome(saved.row);
      loadFailureModes();
    } catch (err) {
      status.className = "status-bad";
      status.textContent = err.message;
    }
  });
}

async function loadFailureModes() {
  try {
    const modes = (await fetchJSON("/api/failure_modes")).failure_modes;
    document.getElementById("failure-modes").replaceChildren(...modes.map((m) => el("option", {value: m})));
  } catch (err) { /* suggestions are optional */ }
}

// --- clip export -------------------------------------------------------------------------------------------

const CLIPS_OPTION = "__clips__";

async function setupExport(info) {
  const start = document.getElementById("clip-start");
  const end = document.getElementById("clip-end");
  start.max = end.max = String(info.duration_s);
  const sync = () => {
    const a = parseFloat(start.value), b = parseFloat(end.value);
    view.timeline.clip = Number.isFinite(a) && Number.isFinite(b) ? [a, b] : null;
    view.timeline.background = null;
    setTime(view.t);
  };
  start.addEventListener("input", sync);
  end.addEventListener("input", sync);
  document.getElementById("clip-start-now").addEventListener("click", () => { start.value = view.t.toFixed(3); sync(); });
  document.getElementById("clip-end-now").addEventListener("click", () => { end.value = view.t.toFixed(3); sync(); });
  view.setClipStart = () => { start.value = view.t.toFixed(3); sync(); };
  view.setClipEnd = () => { end.value = view.t.toFixed(3); sync(); };

  const select = document.getElementById("clip-dataset");
  const newRow = document.getElementById("clip-new-row");
  // Clips go to the server's clips dataset unless the reviewer picks another (the list of datasets, or a new one).
  let clipsDataset = null;
  try {
    const listed = await fetchJSON("/api/datasets");
    clipsDataset = listed.clips;
    const others = listed.datasets.filter((d) => d !== clipsDataset);
    select.replaceChildren(
      el("option", {value: CLIPS_OPTION, text: `${clipsDataset} (clips dataset${listed.datasets.includes(clipsDataset) ? "" : ", new"})`}),
      ...others.map((d) => el("option", {value: d, text: d === "." ? "(served directory)" : d})),
      el("option", {value: "__new__", text: "New dataset…"}));
    select.value = CLIPS_OPTION;
  } catch (err) {
    select.replaceChildren(el("option", {value: "__new__", text: "New dataset…"}));
  }
  const toggle = () => { newRow.hidden = select.value !== "__new__"; };
  select.addEventListener("change", toggle);
  toggle();

  document.getElementById("export-clip").addEventListener("click", async () => {
    const status = document.getElementById("export-status");
    const body = {ep: ref, start_s: parseFloat(start.value), end_s: parseFloat(end.value)};
    if (!Number.isFinite(body.start_s) || !Number.isFinite(body.end_s)) {
      status.className = "status-bad";
      status.textContent = "set a start and an end first ([ and ] at the cursor)";
      return;
    }
    if (select.value === "__new__") body.new_dataset = document.getElementById("clip-new-name").value.trim();
    else if (select.value === CLIPS_OPTION) body.new_dataset = clipsDataset;  // created at the first export
    else body.dataset = select.value;
    status.className = "muted";
    status.textContent = "exporting…";
    try {
      const result = await postJSON("/api/export", body);
      if (select.value === CLIPS_OPTION) select.selectedOptions[0].text = `${clipsDataset} (clips dataset)`;
      status.className = "status-ok";
      status.replaceChildren("exported as ", el("a", {href: episodeHref(result.ref), id: "export-link", text: result.ref}));
    } catch (err) {
      status.className = "status-bad";
      status.textContent = err.message;
    }
  });
}

// --- controls ----------------------------------------------------------------------------------------------

function setupControls() {
  document.getElementById("play").addEventListener("click", () => (view.playing ? pause() : play()));
  document.getElementById("speed").addEventListener("change", (event) => {
    view.speed = parseFloat(event.target.value);
    if (view.playing) setTime(view.t, true);
  });
  const scrubber = document.getElementById("scrubber");
  scrubber.addEventListener("input", () => { if (view.playing) pause(); setTime(parseFloat(scrubber.value)); });
  document.getElementById("copy-link").addEventListener("click", () => {
    const url = new URL(location.href);
    url.searchParams.set("t", view.t.toFixed(3));
    const box = document.getElementById("link");
    box.hidden = false;
    box.value = url.toString();
    box.select();
    if (navigator.clipboard) navigator.clipboard.writeText(box.value).catch(() => {});
  });
  document.addEventListener("keydown", (event) => {
    const target = event.target;
    if (target instanceof HTMLElement && target.closest("input:not([type=range]), textarea, select")) return;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const handled = {
      " ": () => (view.playing ? pause() : play()),
      "ArrowRight": () => step(1, event.shiftKey ? 1 : 0),
      "ArrowLeft": () => step(-1, event.shiftKey ? 1 : 0),
      "Home": () => { if (view.playing) pause(); setTime(0); },
      "End": () => { if (view.playing) pause(); setTime(view.duration); },
      "[": () => view.setClipStart && view.setClipStart(),
      "]": () => view.setClipEnd && view.setClipEnd(),
      "p": () => document.getElementById("prev-episode").click(),
      "n": () => document.getElementById("next-episode").click(),
    }[event.key];
    if (handled) {
      event.preventDefault();
      handled();
    }
  });
}

setupControls();
load();
