// dust-emulator UI: plain DOM, no framework, no build step. Every value is inserted as text (never as HTML).
"use strict";

const API = "api";
const PAGE = 50;
const state = { workspace: null, dataSource: null, docOffset: 0 };

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null) continue;
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

async function getJSON(path) {
  const response = await fetch(path, { headers: { Accept: "application/json" } });
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return response.json();
}

function isoTime(ms) {
  if (typeof ms !== "number" || !Number.isFinite(ms)) return "";
  try { return new Date(ms).toISOString().replace(".000Z", "Z"); } catch { return String(ms); }
}

function dsPath(kind, params) {
  const base = `${API}/w/${encodeURIComponent(state.workspace)}/ds/${encodeURIComponent(state.dataSource.sId)}/${kind}`;
  const query = new URLSearchParams(params || {}).toString();
  return query ? `${base}?${query}` : base;
}

function renderSources(overview) {
  const nav = document.getElementById("sources");
  nav.replaceChildren();
  const all = [];
  for (const ws of overview.workspaces) {
    nav.append(el("h4", {}, `Workspace ${ws.name} (${ws.sId})`));
    for (const space of ws.spaces) {
      if (!space.data_sources.length) continue;
      nav.append(el("div", { class: "muted" }, space.name));
      for (const ds of space.data_sources) {
        all.push({ ws, ds });
        const button = el("button", {
          type: "button", dataset: { ds: ds.sId, testid: "source" },
          onclick: () => selectSource(ws.sId, ds),
        }, ds.name, el("span", { class: "counts" }, `${ds.documents} documents · ${ds.tables} tables`));
        nav.append(button);
      }
    }
  }
  if (!all.length) nav.append(el("p", { class: "muted" }, "No data sources yet."));
  return all;
}

async function selectSource(workspace, ds) {
  state.workspace = workspace;
  state.dataSource = ds;
  state.docOffset = 0;
  history.replaceState(null, "", `#w=${encodeURIComponent(workspace)}&ds=${encodeURIComponent(ds.sId)}`);
  for (const button of document.querySelectorAll("nav button")) {
    button.classList.toggle("active", button.dataset.ds === ds.sId);
  }
  document.getElementById("ds-title").textContent = ds.name;
  document.getElementById("ds-meta").textContent =
    `${ds.sId} · workspace ${workspace}` + (ds.connector_provider ? ` · managed by ${ds.connector_provider}` : "");
  document.getElementById("search-results").replaceChildren();
  document.getElementById("documents").replaceChildren();
  await Promise.all([loadDocuments(), loadTables()]);
}

function renderDocument(doc) {
  const meta = [el("code", {}, doc.document_id), " · ", isoTime(doc.timestamp)];
  if (doc.source_url) meta.push(" · ", el("a", { href: doc.source_url, target: "_blank", rel: "noopener" }, doc.source_url));
  const tags = el("div", { class: "tags" }, (doc.tags || []).map((t) => el("span", { class: "tag" }, t)));
  return el("article", { class: "doc", dataset: { testid: "document", id: doc.document_id } },
    doc.score !== undefined ? el("span", { class: "score" }, `score ${Number(doc.score).toFixed(3)}`) : null,
    el("h4", { dataset: { testid: "document-title" } }, doc.title || "(untitled)"),
    el("div", { class: "meta" }, meta),
    tags,
    el("pre", { class: "text", dataset: { testid: "document-text" } }, doc.text || ""));
}

async function loadDocuments() {
  const box = document.getElementById("documents");
  const more = document.getElementById("more-docs");
  try {
    const answer = await getJSON(dsPath("documents", { limit: PAGE, offset: state.docOffset }));
    document.getElementById("doc-count").textContent = `(${answer.total})`;
    if (!answer.total) box.replaceChildren(el("p", { class: "muted" }, "No documents."));
    for (const doc of answer.documents) box.append(renderDocument(doc));
    state.docOffset += answer.documents.length;
    more.hidden = state.docOffset >= answer.total;
  } catch (error) {
    box.replaceChildren(el("p", { class: "error" }, String(error)));
  }
}

function cellText(value) {
  if (value === null || value === undefined) return null;
  if (typeof value === "object" && value.type === "datetime" && typeof value.epoch === "number") {
    return isoTime(value.epoch);
  }
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

function renderTable(table) {
  const columns = (table.schema || []).map((c) => c.name);
  for (const row of table.rows) {
    for (const key of Object.keys(row.value || {})) if (!columns.includes(key)) columns.push(key);
  }
  const types = Object.fromEntries((table.schema || []).map((c) => [c.name, c.value_type]));
  const head = el("tr", {}, el("th", {}, "row_id"),
    columns.map((name) => el("th", { dataset: { testid: "column" } }, name, el("span", { class: "type" }, types[name] || ""))));
  const body = table.rows.map((row) => el("tr", {}, el("td", {}, row.row_id), columns.map((name) => {
    const text = cellText((row.value || {})[name]);
    return text === null ? el("td", { class: "null" }, "null") : el("td", { title: text }, text);
  })));
  return el("div", { class: "table-card", dataset: { testid: "table", id: table.table_id } },
    el("h4", { dataset: { testid: "table-name" } }, table.name),
    el("div", { class: "meta muted" }, `${table.table_id} · ${table.row_count} rows · ${columns.length} columns`),
    el("div", { class: "desc" }, table.description || ""),
    el("table", {}, el("thead", {}, head), el("tbody", {}, body)),
    table.row_count > table.rows.length ? el("p", { class: "muted" }, `First ${table.rows.length} of ${table.row_count} rows.`) : null);
}

async function loadTables() {
  const box = document.getElementById("tables");
  try {
    const answer = await getJSON(dsPath("tables", { rows: 20 }));
    document.getElementById("table-count").textContent = `(${answer.tables.length})`;
    box.replaceChildren(...(answer.tables.length ? answer.tables.map(renderTable) : [el("p", { class: "muted" }, "No tables.")]));
  } catch (error) {
    box.replaceChildren(el("p", { class: "error" }, String(error)));
  }
}

async function search(event) {
  event.preventDefault();
  const box = document.getElementById("search-results");
  const query = document.getElementById("search-input").value.trim();
  if (!state.dataSource) return;
  if (!query) { box.replaceChildren(); return; }
  box.replaceChildren(el("p", { class: "muted" }, "Searching…"));
  try {
    const answer = await getJSON(dsPath("search", { query, top_k: 10 }));
    const hits = answer.documents.map(renderDocument);
    box.replaceChildren(el("p", { class: "muted", dataset: { testid: "search-summary" } },
      `${answer.documents.length} result${answer.documents.length === 1 ? "" : "s"} for “${query}”`), ...hits);
  } catch (error) {
    box.replaceChildren(el("p", { class: "error" }, String(error)));
  }
}

async function main() {
  document.getElementById("search-form").addEventListener("submit", search);
  document.getElementById("more-docs").addEventListener("click", loadDocuments);
  try {
    const all = renderSources(await getJSON(`${API}/overview`));
    const wanted = new URLSearchParams(location.hash.slice(1));
    const pick = all.find((x) => x.ws.sId === wanted.get("w") && x.ds.sId === wanted.get("ds"))
      || all.find((x) => x.ds.documents + x.ds.tables > 0) || all[0];
    if (pick) await selectSource(pick.ws.sId, pick.ds);
  } catch (error) {
    document.getElementById("sources").replaceChildren(el("p", { class: "error" }, String(error)));
  }
  document.body.dataset.ready = "true";
}

main();
