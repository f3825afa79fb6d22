"use strict";
// Canvas plots on one shared time axis. Each plot renders its data once into an offscreen canvas; moving the
// cursor only copies that image and draws a line, so playback stays cheap however many samples there are.

const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
                 "#7f7f7f", "#bcbd22"];
const MARGIN = {left: 48, right: 8, top: 6, bottom: 18};

function niceTicks(low, high, count) {
  const span = high - low || 1;
  const raw = span / count;
  const magnitude = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) || raw;
  const ticks = [];
  for (let v = Math.ceil(low / step) * step; v <= high + step * 1e-9; v += step) ticks.push(Number(v.toFixed(10)));
  return ticks;
}

function formatTick(v) {
  const a = Math.abs(v);
  if (a === 0) return "0";
  if (a >= 1000 || a < 0.01) return v.toExponential(1);
  return String(Number(v.toPrecision(3)));
}

class TimeAxis {
  constructor(duration) { this.duration = Math.max(duration, 1e-6); }
  x(t, width) { return MARGIN.left + (t / this.duration) * (width - MARGIN.left - MARGIN.right); }
  t(x, width) {
    const t = ((x - MARGIN.left) / (width - MARGIN.left - MARGIN.right)) * this.duration;
    return Math.max(0, Math.min(this.duration, t));
  }
}

function setupCanvas(canvas) {
  const ratio = window.devicePixelRatio || 1;
  const width = Math.max(50, canvas.clientWidth);
  const height = Math.max(30, canvas.clientHeight);
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(height * ratio);
  return {width, height, ratio};
}

function attachSeek(canvas, axis, onSeek) {
  let dragging = false;
  const seek = (event) => {
    const rect = canvas.getBoundingClientRect();
    onSeek(axis.t(event.clientX - rect.left, rect.width));
  };
  canvas.addEventListener("pointerdown", (event) => { dragging = true; canvas.setPointerCapture(event.pointerId); seek(event); });
  canvas.addEventListener("pointermove", (event) => { if (dragging) seek(event); });
  canvas.addEventListener("pointerup", () => { dragging = false; });
}

function drawCursor(ctx, axis, t, width, height, ratio) {
  const x = axis.x(t, width);
  ctx.save();
  ctx.scale(ratio, ratio);
  ctx.strokeStyle = "#111";
  ctx.lineWidth = 1;
  ctx.beginPath();
  ctx.moveTo(x + 0.5, MARGIN.top);
  ctx.lineTo(x + 0.5, height - MARGIN.bottom);
  ctx.stroke();
  ctx.restore();
}

function drawTimeGrid(ctx, axis, width, height) {
  ctx.fillStyle = "#6a7384";
  ctx.strokeStyle = "#eceff3";
  ctx.font = "10px system-ui, sans-serif";
  ctx.textAlign = "center";
  for (const tick of niceTicks(0, axis.duration, Math.max(2, Math.floor(width / 80)))) {
    const x = axis.x(tick, width);
    ctx.beginPath();
    ctx.moveTo(x + 0.5, MARGIN.top);
    ctx.lineTo(x + 0.5, height - MARGIN.bottom);
    ctx.stroke();
    ctx.fillText(`${formatTick(tick)}s`, x, height - 5);
  }
}

// q and -q are the same rotation; recorded quaternions flip sign freely, which draws as jumps. For plotting, each
// sample takes the sign closest to the previous one, and the first sample the sign that makes its largest
// component positive (so executed and commanded orientations start on the same side).
function alignQuaternions(signal, offset) {
  let previous = null;
  const v = signal.v.map((row) => {
    if (!row || row.length < offset + 4) return row;
    const q = row.slice(offset, offset + 4);
    if (q.some((x) => x === null)) return row;
    let sign = 1;
    if (previous === null) {
      const largest = q.reduce((best, x) => (Math.abs(x) > Math.abs(best) ? x : best), 0);
      sign = largest < 0 ? -1 : 1;
    } else if (q.reduce((sum, x, i) => sum + x * previous[i], 0) < 0) {
      sign = -1;
    }
    previous = q.map((x) => x * sign);
    return row.slice(0, offset).concat(previous, row.slice(offset + 4));
  });
  return {t: signal.t, v};
}

// Plots render their static picture once into `background`; moving the time cursor only blits it and draws the
// cursor on top, so scrubbing never re-draws the signals.
class CursorCanvas {
  drawAt(t) {
    if (!this.background) this.render();
    const ctx = this.canvas.getContext("2d");
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    ctx.drawImage(this.background, 0, 0);
    drawCursor(ctx, this.axis, t, this.size.width, this.size.height, this.size.ratio);
  }
}

class SignalPlot extends CursorCanvas {
  // panel: {title, series: [{signal, component, label, dashed}], threshold}; data: {signal: {t, v}}
  constructor(container, panel, data, axis, onSeek) {
    super();
    this.panel = panel;
    this.data = data;
    this.axis = axis;
    this.root = el("div", {class: "plot", "data-title": panel.title});
    this.canvas = el("canvas", {"aria-label": panel.title});
    const legend = el("div", {class: "legend"});
    panel.series.forEach((series, i) => {
      const swatch = el("i", {class: series.dashed ? "dashed" : ""});
      const color = PALETTE[i % PALETTE.length];
      swatch.style.background = color;
      swatch.style.borderColor = color;
      legend.append(el("span", {}, swatch, series.label));
    });
    this.root.append(el("h3", {text: panel.title}), this.canvas, legend);
    container.append(this.root);
    attachSeek(this.canvas, axis, onSeek);
    this.background = null;
    this.aligned = {};
    if (Number.isInteger(panel.quaternion_offset)) {
      for (const series of panel.series) {
        if (!(series.signal in this.aligned) && data[series.signal]) {
          this.aligned[series.signal] = alignQuaternions(data[series.signal], panel.quaternion_offset);
        }
      }
    }
  }

  points(series) {
    const signal = this.aligned[series.signal] || this.data[series.signal];
    if (!signal || !signal.v) return null;
    const values = series.component === null || series.component === undefined
      ? signal.v : signal.v.map((row) => (row ? row[series.component] : null));
    return {t: signal.t, v: values};
  }

  render() {
    const {width, height, ratio} = setupCanvas(this.canvas);
    this.size = {width, height, ratio};
    const off = document.createElement("canvas");
    off.width = this.canvas.width;
    off.height = this.canvas.height;
    const ctx = off.getContext("2d");
    ctx.scale(ratio, ratio);
    let low = Infinity, high = -Infinity;
    const all = this.panel.series.map((s) => this.points(s));
    for (const pts of all) {
      if (!pts) continue;
      for (const v of pts.v) if (v !== null && Number.isFinite(v)) { low = Math.min(low, v); high = Math.max(high, v); }
    }
    if (this.panel.threshold !== null && this.panel.threshold !== undefined) {
      low = Math.min(low, this.panel.threshold);
      high = Math.max(high, this.panel.threshold);
    }
    if (!Number.isFinite(low)) { low = 0; high = 1; }
    if (high - low < 1e-9) { low -= 0.5; high += 0.5; }
    const pad = (high - low) * 0.06;
    low -= pad; high += pad;
    const y = (v) => MARGIN.top + (1 - (v - low) / (high - low)) * (height - MARGIN.top - MARGIN.bottom);
    drawTimeGrid(ctx, this.axis, width, height);
    ctx.textAlign = "right";
    ctx.fillStyle = "#6a7384";
    for (const tick of niceTicks(low, high, 4)) {
      const yy = y(tick);
      ctx.strokeStyle = "#eceff3";
      ctx.beginPath();
      ctx.moveTo(MARGIN.left, yy + 0.5);
      ctx.lineTo(width - MARGIN.right, yy + 0.5);
      ctx.stroke();
      ctx.fillText(formatTick(tick), MARGIN.left - 4, yy + 3);
    }
    if (this.panel.threshold !== null && this.panel.threshold !== undefined) {
      ctx.strokeStyle = "#1a7f37";
      ctx.setLineDash([2, 3]);
      ctx.beginPath();
      ctx.moveTo(MARGIN.left, y(this.panel.threshold));
      ctx.lineTo(width - MARGIN.right, y(this.panel.threshold));
      ctx.stroke();
      ctx.setLineDash([]);
    }
    all.forEach((pts, i) => {
      if (!pts) return;
      const series = this.panel.series[i];
      ctx.strokeStyle = PALETTE[i % PALETTE.length];
      ctx.lineWidth = series.dashed ? 1.2 : 1.5;
      ctx.setLineDash(series.dashed ? [5, 3] : []);
      ctx.beginPath();
      let open = false;
      let lastY = 0;
      for (let k = 0; k < pts.t.length; k++) {
        const v = pts.v[k];
        if (v === null || !Number.isFinite(v)) { open = false; continue; }
        const x = this.axis.x(pts.t[k], width);
        const yy = y(v);
        // Step function: a value holds until the next sample.
        if (open) ctx.lineTo(x, lastY); else ctx.moveTo(x, yy);
        ctx.lineTo(x, yy);
        lastY = yy;
        open = true;
      }
      if (open) ctx.lineTo(this.axis.x(this.axis.duration, width), lastY);
      ctx.stroke();
    });
    ctx.setLineDash([]);
    this.background = off;
  }
}

class Timeline extends CursorCanvas {
  // Inference requests (chunk boundaries) as ticks, their latency as bars, idle ticks in red, the clip range
  // shaded, and the cursor.
  constructor(canvas, axis, data, onSeek) {
    super();
    this.canvas = canvas;
    this.axis = axis;
    this.data = data;
    this.clip = null;
    this.background = null;
    attachSeek(canvas, axis, onSeek);
  }

  render() {
    const {width, height, ratio} = setupCanvas(this.canvas);
    this.size = {width, height, ratio};
    const off = document.createElement("canvas");
    off.width = this.canvas.width;
    off.height = this.canvas.height;
    const ctx = off.getContext("2d");
    ctx.scale(ratio, ratio);
    drawTimeGrid(ctx, this.axis, width, height);
    const base = height - MARGIN.bottom;
    const latency = this.data["inference.latency_ms"];
    const chunks = this.data["inference.chunk_size"];
    const idle = this.data["inference.idle"];
    ctx.font = "10px system-ui, sans-serif";
    ctx.textAlign = "left";
    ctx.fillStyle = "#6a7384";
    if (this.clip) {
      const x0 = this.axis.x(this.clip[0], width), x1 = this.axis.x(this.clip[1], width);
      ctx.fillStyle = "rgba(31, 111, 235, 0.12)";
      ctx.fillRect(Math.min(x0, x1), MARGIN.top, Math.abs(x1 - x0), base - MARGIN.top);
    }
    const requests = latency ? latency.t : chunks ? chunks.t : [];
    ctx.strokeStyle = "#1f6feb";
    for (const t of requests) {
      const x = this.axis.x(t, width);
      ctx.beginPath();
      ctx.moveTo(x + 0.5, MARGIN.top);
      ctx.lineTo(x + 0.5, MARGIN.top + 8);
      ctx.stroke();
    }
    if (latency) {
      const max = Math.max(1e-9, ...latency.v.filter((v) => v !== null));
      ctx.fillStyle = "rgba(255, 127, 14, 0.8)";
      latency.t.forEach((t, i) => {
        const v = latency.v[i];
        if (v === null) return;
        const h = (v / max) * (base - MARGIN.top - 12);
        ctx.fillRect(this.axis.x(t, width) - 1, base - h, 3, h);
      });
      ctx.fillStyle = "#6a7384";
      ctx.textAlign = "right";
      ctx.fillText(`latency bars, max ${max.toFixed(1)} ms`, width - MARGIN.right, MARGIN.top + 30);
    }
    ctx.fillStyle = "#6a7384";
    ctx.textAlign = "right";
    ctx.fillText(`${counted(requests.length, "inference request")} (ticks)`, width - MARGIN.right, MARGIN.top + 18);
    if (idle) {
      ctx.fillStyle = "#cf222e";
      idle.t.forEach((t, i) => { if (idle.v[i]) ctx.fillRect(this.axis.x(t, width), base - 3, 2, 3); });
    }
    this.background = off;
  }
}
