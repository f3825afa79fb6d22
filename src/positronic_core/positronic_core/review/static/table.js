"use strict";
// The episode table: every sort, filter and page is computed by the server (/api/episodes), so it stays fast on
// datasets of any size; this script only renders one page and keeps the state in the URL.

const table = {
  sort: "index", desc: false, page: 0, pageSize: 50, filters: {},
  columns: null, pages: 1, total: 0, loading: true, datasets: 0, clips: 0, indexed: 0, timer: null, seq: 0,
};

function readUrlState() {
  const params = new URLSearchParams(location.search);
  table.sort = params.get("sort") || "index";
  table.desc = params.get("desc") === "1";
  table.page = Math.max(0, parseInt(params.get("page") || "0", 10) || 0);
  table.pageSize = parseInt(params.get("page_size") || "50", 10) || 50;
  table.filters = {};
  for (const [key, value] of params) if (key.startsWith("f.") && value) table.filters[key.slice(2)] = value;
}

function stateParams() {
  const params = new URLSearchParams();
  if (table.sort !== "index") params.set("sort", table.sort);
  if (table.desc) params.set("desc", "1");
  if (table.page) params.set("page", String(table.page));
  if (table.pageSize !== 50) params.set("page_size", String(table.pageSize));
  for (const [key, value] of Object.entries(table.filters)) if (value) params.set(`f.${key}`, value);
  return params;
}

function writeUrlState() {
  const query = stateParams().toString();
  history.replaceState(null, "", query ? `/?${query}` : "/");
}

async function loadPage() {
  const seq = ++table.seq;
  const params = stateParams();
  params.set("page", String(table.page));
  params.set("page_size", String(table.pageSize));
  let data;
  try {
    data = await fetchJSON(`/api/episodes?${params}`);
  } catch (err) {
    showError(err.message);
    return;
  }
  if (seq !== table.seq) return;  // a newer request is on its way
  showError("");
  if (!table.columns) buildHeader(data.columns);
  table.pages = data.pages;
  table.total = data.total;
  if (table.page >= data.pages && data.total > 0) {
    table.page = data.pages - 1;
    return loadPage();
  }
  renderStatus(data.status);
  renderRows(data.rows);
  renderPager();
  writeUrlState();
}

function buildHeader(columns) {
  table.columns = columns;
  const headers = document.getElementById("headers");
  const filters = document.getElementById("filters");
  headers.replaceChildren();
  filters.replaceChildren();
  for (const column of columns) {
    const th = el("th", {class: `sortable ${column.kind === "number" ? "num" : ""}`, "data-key": column.key,
                         title: `Sort by ${column.label}`, text: column.label});
    th.addEventListener("click", () => {
      if (table.sort === column.key) table.desc = !table.desc;
      else { table.sort = column.key; table.desc = false; }
      table.page = 0;
      loadPage();
    });
    headers.append(th);
    const input = el("input", {type: "search", "data-key": column.key, "aria-label": `Filter ${column.label}`,
                               placeholder: column.kind === "number" ? ">, <, a..b" : "filter"});
    input.value = table.filters[column.key] || "";
    let debounce = null;
    input.addEventListener("input", () => {
      clearTimeout(debounce);
      debounce = setTimeout(() => {
        table.filters[column.key] = input.value;
        table.page = 0;
        loadPage();
      }, 250);
    });
    filters.append(el("th", {"data-key": column.key}, input));
  }
}

function cellText(row, key) {
  const value = row[key];
  if (value === null || value === undefined) return "";
  if (key === "duration_s") return value.toFixed(2);
  if (key === "score") return row.score_text;
  return String(value);
}

// Date and time may go on two lines, but a date never breaks at its hyphens.
function startCell(text) {
  return el("span", {}, ...text.split(" ").flatMap((part, i) => [i ? " " : null, el("span", {class: "nowrap", text: part})]));
}

function cellTitle(row, key) {
  if (key === "failure_mode" && row.notes) return row.notes;
  if (key === "score" && row.items_total) return `${row.items_successful} of ${counted(row.items_total, "item")}`;
  if (key === "clip_of" && row.clip_of) return "a clip cut from this episode: not an evaluation run";
  if (key === "task" || key === "model" || key === "checkpoint") return row[key] || null;
  return null;
}

function renderRows(rows) {
  const body = document.getElementById("rows");
  body.replaceChildren();
  const hidden = new Set([...(table.datasets <= 1 ? ["dataset"] : []), ...(table.clips ? [] : ["clip_of"])]);
  for (const th of document.querySelectorAll("#episodes th[data-key]")) {
    th.hidden = hidden.has(th.dataset.key);
    th.classList.toggle("sorted-asc", th.dataset.key === table.sort && !table.desc && th.parentElement.id === "headers");
    th.classList.toggle("sorted-desc", th.dataset.key === table.sort && table.desc && th.parentElement.id === "headers");
  }
  const query = stateParams().toString();
  for (const row of rows) {
    const href = `/episode/${encodeRef(row.ref)}${query ? `?${query}` : ""}`;
    const tr = el("tr", {"data-ref": row.ref});
    for (const column of table.columns) {
      if (hidden.has(column.key)) continue;
      let content;
      if (column.key === "outcome") content = outcomeBadge(row.outcome, row.outcome_source);
      else if (column.key === "index") content = el("a", {href, text: String(row.index)});
      else if (column.key === "start") content = startCell(row.start);
      else content = cellText(row, column.key);
      tr.append(el("td", {class: `${column.kind === "number" ? "num" : ""} ${column.key}`,
                          title: cellTitle(row, column.key)}, content));
    }
    tr.addEventListener("click", (event) => {
      if (event.target.closest("a")) return;
      location.href = href;
    });
    body.append(tr);
  }
  document.getElementById("empty").hidden = rows.length > 0 || table.loading;
}

function encodeRef(ref) {
  return ref.split("/").map(encodeURIComponent).join("/");
}

function renderPager() {
  document.getElementById("page-info").textContent = `page ${table.page + 1} of ${table.pages}`;
  document.getElementById("first").disabled = table.page === 0;
  document.getElementById("prev").disabled = table.page === 0;
  document.getElementById("next").disabled = table.page >= table.pages - 1;
  document.getElementById("last").disabled = table.page >= table.pages - 1;
  document.getElementById("page-size").value = String(table.pageSize);
}

function renderStatus(status) {
  table.loading = status.loading;
  table.datasets = status.datasets;
  table.clips = status.clips;
  table.indexed = status.indexed;
  const banner = document.getElementById("loading");
  banner.hidden = !status.loading;
  if (status.loading) {
    const progress = document.getElementById("progress");
    progress.max = Math.max(1, status.found);
    progress.value = status.indexed;
    document.getElementById("progress-text").textContent =
      `${status.indexed.toLocaleString()} of ${status.found ? counted(status.found, "episode") : "? episodes"}`;
  }
  const filtered = Object.values(table.filters).some(Boolean);
  document.getElementById("count").textContent = filtered
    ? `${table.total.toLocaleString()} of ${counted(status.indexed, "episode")} match`
    : `${counted(status.indexed, "episode")}${status.datasets > 1 ? ` in ${counted(status.datasets, "dataset")}` : ""}`;
  if (status.error_count) {
    showError(`${counted(status.error_count, "episode")} could not be read; see /api/status for details.`);
  }
  clearTimeout(table.timer);
  // While indexing, refresh often; afterwards keep looking for episodes recorded while the page is open.
  table.timer = setTimeout(status.loading ? loadPage : refreshIfGrown, status.loading ? 700 : 3000);
}

async function refreshIfGrown() {
  try {
    const status = await fetchJSON("/api/status");
    if (status.indexed !== table.indexed || status.loading) return loadPage();
  } catch (err) { /* the server may be restarting; try again later */ }
  clearTimeout(table.timer);
  table.timer = setTimeout(refreshIfGrown, 3000);
}

function showError(message) {
  const box = document.getElementById("errors");
  box.hidden = !message;
  box.textContent = message;
}

function setupControls() {
  const go = (page) => { table.page = Math.max(0, Math.min(page, table.pages - 1)); loadPage(); };
  document.getElementById("first").addEventListener("click", () => go(0));
  document.getElementById("prev").addEventListener("click", () => go(table.page - 1));
  document.getElementById("next").addEventListener("click", () => go(table.page + 1));
  document.getElementById("last").addEventListener("click", () => go(table.pages - 1));
  document.getElementById("page-size").addEventListener("change", (event) => {
    table.pageSize = parseInt(event.target.value, 10);
    table.page = 0;
    loadPage();
  });
  document.getElementById("clear-filters").addEventListener("click", () => {
    table.filters = {};
    for (const input of document.querySelectorAll("#filters input")) input.value = "";
    table.page = 0;
    loadPage();
  });
  fetchJSON("/api/status").then((status) => {
    document.getElementById("root").textContent = status.root;
  }).catch(() => {});
}

readUrlState();
setupControls();
loadPage();
