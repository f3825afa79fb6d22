"use strict";
// Shared by the table and the episode page: JSON requests with readable errors, and small formatters.

async function fetchJSON(url, options) {
  const response = await fetch(url, options);
  let payload = null;
  try { payload = await response.json(); } catch (err) { payload = null; }
  if (!response.ok) {
    const message = payload && payload.error ? payload.error : `${response.status} ${response.statusText}`;
    const error = new Error(message);
    error.status = response.status;
    throw error;
  }
  return payload;
}

function postJSON(url, body) {
  return fetchJSON(url, {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function outcomeBadge(outcome, source) {
  if (!outcome) return el("span", {class: "muted", text: "—"});
  const manual = source === "manual";
  return el("span", {class: `badge ${outcome}${manual ? " manual" : ""}`,
                     title: manual ? "scored by hand" : `from ${source || "recording"}`, text: outcome});
}

// "1 episode", "1,200 episodes".
function counted(n, noun) {
  return `${n.toLocaleString()} ${noun}${n === 1 ? "" : "s"}`;
}

function formatSeconds(t) {
  return `${t.toFixed(3)} s`;
}

// Table state (sort, filters, page) travels in the query string, so the episode page can step through the same
// filtered order and "back" returns to the same view.
const TABLE_KEYS = ["sort", "desc", "page", "page_size"];

function tableQuery(params) {
  const out = new URLSearchParams();
  for (const [key, value] of params) {
    if (TABLE_KEYS.includes(key) || key.startsWith("f.")) out.set(key, value);
  }
  return out;
}
