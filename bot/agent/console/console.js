// lingodesk agents' console: plain ES2017, no build step. Talks to the agent API it is served
// by (same origin, session cookie); live updates come as server-sent events (GET /events).
// Customer text only ever reaches the page through textContent, never as HTML.
"use strict";

(function () {
  const RTL = new Set(["ar", "he", "fa", "ur", "yi", "ps", "sd", "ug", "dv"]);
  const PRIORITY_ORDER = ["urgent", "high", "normal", "low"];
  const $ = (id) => document.getElementById(id);
  const state = { account: null, queues: [], ticket: null, view: null, selected: 0, canned: [], stream: null };

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (key === "class") node.className = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else if (value !== null && value !== undefined && value !== false) node.setAttribute(key, value);
    }
    for (const child of children) {
      if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  async function api(method, path, body) {
    const response = await fetch(path, {
      method,
      credentials: "same-origin",
      headers: body ? { "Content-Type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
    if (response.status === 401 && path !== "/login") { showLogin(); throw new Error("Please sign in again."); }
    const data = response.status === 204 ? null : await response.json().catch(() => null);
    if (!response.ok) {
      const error = new Error((data && data.error) || `The desk answered ${response.status}.`);
      error.status = response.status;
      throw error;
    }
    return data;
  }

  function languageName(code) {
    try {
      return new Intl.DisplayNames([navigator.language || "en"], { type: "language" }).of(code);
    } catch (_) {
      return code;
    }
  }

  function minutes(seconds) {
    if (seconds < 60) return "under a minute";
    const m = Math.floor(seconds / 60);
    return m < 60 ? `${m} min` : `${Math.floor(m / 60)} h ${m % 60} min`;
  }

  function waited(ticket) {
    // From the handoff (the ticket's creation), not from the start of the chat with the bot.
    const until = ticket.claimed_at && ticket.status !== "waiting" ? ticket.claimed_at : Date.now() / 1000;
    return minutes(Math.max(0, until - ticket.created_at));
  }

  function status(text, isError) {
    const node = $("t-status");
    node.textContent = text;
    node.classList.toggle("error", Boolean(isError));
  }

  // -- sign in / out
  function showLogin() {
    if (state.stream) state.stream.close();
    state.stream = null;
    $("login").hidden = false;
    $("desk").hidden = true;
    $("logout").hidden = true;
    $("who").textContent = "";
    $("login-form").elements.name.focus();
  }

  async function signedIn(account) {
    state.account = account;
    $("who").textContent = `${account.name} · ${account.role}`;
    $("login").hidden = true;
    $("desk").hidden = false;
    $("logout").hidden = false;
    $("reassign-form").hidden = !(account.role === "supervisor" || account.role === "admin");
    connect();
    const me = await api("GET", "/me");
    $("transfer-queue").replaceChildren(...me.queues.map((q) => el("option", { value: q }, q)));
  }

  async function login(event) {
    event.preventDefault();
    const form = event.target;
    $("login-error").textContent = "";
    try {
      const data = await api("POST", "/login", { name: form.elements.name.value, password: form.elements.password.value });
      form.reset();
      signedIn(data.account);
    } catch (error) {
      $("login-error").textContent = error.status === 429
        ? "Too many failed sign-ins. Wait a few minutes, or ask your admin."
        : error.status === 401 ? "Wrong name or password." : error.message;
    }
  }

  // -- live updates
  function connect() {
    if (state.stream) state.stream.close();
    const query = state.ticket ? `?ticket=${encodeURIComponent(state.ticket)}` : "";
    const stream = new EventSource(`/events${query}`);
    stream.addEventListener("queues", (e) => renderQueues(JSON.parse(e.data).queues));
    stream.addEventListener("ticket", (e) => renderTicket(JSON.parse(e.data)));
    stream.addEventListener("signed_out", showLogin);
    // A refused stream (expired session) retries forever: ask once whether we are signed in.
    stream.addEventListener("error", () => { api("GET", "/me").catch(() => {}); });
    state.stream = stream;
  }

  // -- queues
  function oldestWait(queue) {
    const created = queue.tickets.map((t) => t.created_at);
    return created.length ? Date.now() / 1000 - Math.min(...created) : 0;
  }

  function urgency(queue) {
    const level = PRIORITY_ORDER.findIndex((p) => (queue.by_priority || {})[p] > 0);
    return [level === -1 ? PRIORITY_ORDER.length : level, -oldestWait(queue)];
  }

  function ticketRow(ticket, index, showHolder) {
    const open = () => openTicket(ticket.ticket_id);
    return el("li", {
      class: `ticket-row p-${ticket.priority_name}` + (index === state.selected ? " selected" : "") + (ticket.ticket_id === state.ticket ? " open" : ""),
      tabindex: "0", "data-ticket": ticket.ticket_id, "data-index": index,
      onclick: open, onkeydown: (e) => { if (e.key === "Enter") open(); },
    },
    el("span", { class: "badge" }, ticket.priority_name),
    el("span", { class: "lang", title: languageName(ticket.language) }, ticket.language),
    el("span", { class: "wait" }, waited(ticket)),
    showHolder && ticket.agent ? el("span", { class: "holder" }, ticket.agent) : null,
    el("span", { class: "excerpt", dir: "auto" }, ticket.reason));
  }

  function renderQueues(queues) {
    const focused = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.ticket : null;
    state.queues = queues.slice().sort((a, b) => {
      const [x, y] = [urgency(a), urgency(b)];
      return x[0] - y[0] || x[1] - y[1] || a.queue.localeCompare(b.queue);
    });
    const supervisor = state.account && state.account.role !== "agent";
    let index = 0;
    const sections = state.queues.map((queue) => {
      const counts = PRIORITY_ORDER.filter((p) => queue.by_priority[p]).map((p) => `${queue.by_priority[p]} ${p}`).join(" · ");
      const rows = queue.tickets.map((t) => ticketRow(t, index++, false));
      const held = queue.claimed.map((t) => ticketRow(t, index++, supervisor));
      return el("section", { class: "queue", "data-queue": queue.queue },
        el("h2", {}, queue.queue, el("span", { class: "count" }, String(queue.waiting))),
        el("p", { class: "muted" }, queue.waiting ? `oldest waits ${minutes(oldestWait(queue))}` : "nobody waiting",
          counts ? ` · ${counts}` : "", queue.in_progress ? ` · ${queue.in_progress} in work` : ""),
        el("button", { type: "button", class: "claim", disabled: queue.waiting ? null : "disabled", onclick: () => claim(queue.queue) }, "Claim next"),
        el("ul", { class: "tickets", "aria-label": `Waiting in ${queue.queue}` }, ...rows),
        held.length ? el("ul", { class: "tickets held", "aria-label": supervisor ? "Claimed" : "Yours" }, ...held) : null);
    });
    $("queues").replaceChildren(...sections);
    if (focused) {
      const row = document.querySelector(`.ticket-row[data-ticket="${CSS.escape(focused)}"]`);
      if (row) row.focus();
    }
  }

  async function claim(queue) {
    try {
      const data = await api("POST", `/queues/${encodeURIComponent(queue)}/claim`);
      if (data) openTicket(data.ticket.ticket_id);
      else status(`Nobody is waiting in ${queue}.`);
    } catch (error) { status(error.message, true); }
  }

  function openTicket(id) {
    state.ticket = id;
    state.view = null;
    $("no-ticket").hidden = true;
    $("ticket-view").hidden = false;
    status("");
    connect();
  }

  // -- the ticket
  function renderTicket(view) {
    if (view.error) { status(view.error, true); return; }
    const first = !state.view || state.view.ticket.ticket_id !== view.ticket.ticket_id;
    state.view = view;
    const t = view.ticket;
    $("t-title").textContent = `${languageName(t.language)} (${t.language}) · ${t.priority_name} priority`;
    $("t-meta").textContent = `${t.queue} · ${t.status}${t.agent ? ` by ${t.agent}` : ""} · waiting since the handoff: ${waited(t)} · conversation ${t.conversation_id}`;
    $("t-reason").textContent = t.reason;
    $("t-entities").replaceChildren(...Object.entries(t.entities || {}).flatMap(([k, v]) => [el("dt", {}, k.replace(/_/g, " ")), el("dd", {}, v)]));
    renderTranscript(view.conversation, t.language);
    renderChart(view.conversation.filter((line) => line.sender === "user"));
    $("t-notes").replaceChildren(...view.notes.map((n) => el("li", {}, el("strong", {}, n.who), " ", el("span", { dir: "auto" }, n.text))));
    if (first) loadCanned(t.language);
  }

  function renderTranscript(lines, language) {
    const list = $("t-transcript");
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    list.setAttribute("dir", RTL.has(language.split("-")[0]) ? "rtl" : "ltr");
    list.replaceChildren(...lines.map((line) => el("li", { class: `line ${line.sender}` },
      el("span", { class: "who" }, line.sender === "user" ? "customer" : line.sender),
      el("p", { class: "text", dir: "auto" }, line.text),
      line.intent ? el("span", { class: "nlu", dir: "ltr" }, `${line.intent} ${Math.round((line.confidence || 0) * 100)} %`) : null)));
    if (atBottom) list.scrollTop = list.scrollHeight;
  }

  function renderChart(turns) {
    const svg = $("t-chart");
    const ns = "http://www.w3.org/2000/svg";
    const x = (i) => (turns.length < 2 ? 150 : 10 + (i * 280) / (turns.length - 1));
    const line = (values, y, cls) => {
      const points = values.map((v, i) => (v === null || v === undefined ? null : `${x(i)},${y(v)}`)).filter(Boolean);
      const path = document.createElementNS(ns, "polyline");
      path.setAttribute("points", points.join(" "));
      path.setAttribute("class", cls);
      return path;
    };
    const axis = document.createElementNS(ns, "line");
    for (const [k, v] of Object.entries({ x1: 0, x2: 300, y1: 45, y2: 45, class: "axis" })) axis.setAttribute(k, v);
    svg.replaceChildren(axis,
      line(turns.map((t) => t.polarity), (v) => 45 - v * 40, "polarity"),
      line(turns.map((t) => t.anger), (v) => 85 - v * 80, "anger"));
    const read = turns.some((t) => t.polarity !== null && t.polarity !== undefined);
    $("t-chart-note").textContent = read ? "" : "The assistant's NLU gave no sentiment for these messages.";
  }

  async function loadCanned(language) {
    try {
      state.canned = (await api("GET", `/canned?language=${encodeURIComponent(language)}`)).replies;
    } catch (_) { state.canned = []; }
    $("canned-list").replaceChildren(...state.canned.map((r) => el("option", { value: r.name }, r.text.slice(0, 80))));
  }

  function insertCanned() {
    const wanted = $("canned-search").value.trim().toLowerCase();
    const reply = state.canned.find((r) => r.name === wanted) ||
      state.canned.find((r) => r.name.includes(wanted) || r.text.toLowerCase().includes(wanted));
    if (!wanted || !reply) { status("No canned reply matches that.", true); return; }
    $("reply-text").value = reply.text;
    $("reply-text").focus();
    status(reply.language === state.view.ticket.language ? "" : `No ${languageName(state.view.ticket.language)} text for ${reply.name}: inserted in ${languageName(reply.language)}.`);
  }

  async function act(path, body, done) {
    try {
      const data = await api("POST", `/tickets/${encodeURIComponent(state.ticket)}${path}`, body);
      status(done(data));
    } catch (error) { status(error.message, true); }
  }

  function bindTicketForms() {
    $("reply-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const text = $("reply-text").value.trim();
      if (!text) return;
      act("/reply", { text }, (d) => { $("reply-text").value = ""; return d.delivery === "pushed" ? "Sent." : "Sent: the customer sees it with their next message."; });
    });
    $("reply-text").addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); $("reply-form").requestSubmit(); }
    });
    $("canned-insert").addEventListener("click", insertCanned);
    $("canned-search").addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); insertCanned(); } });
    $("note-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const text = e.target.elements.text.value.trim();
      if (text) act("/notes", { text }, () => { e.target.reset(); return "Note kept (the customer does not see it)."; });
    });
    $("transfer-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const f = e.target.elements;
      act("/transfer", { queue: f.queue.value, note: f.note.value }, (d) => { e.target.reset(); return `Transferred to ${d.ticket.queue}.`; });
    });
    $("reassign-form").addEventListener("submit", (e) => {
      e.preventDefault();
      act("/reassign", { agent: e.target.elements.agent.value.trim() }, (d) => `Reassigned to ${d.ticket.agent}.`);
    });
    $("close-ticket").addEventListener("click", () => act("/close", null, () => "Closed: the bot has the conversation again."));
  }

  // -- keyboard
  function onKey(event) {
    const typing = /^(INPUT|TEXTAREA|SELECT)$/.test(event.target.tagName);
    if (event.key === "?" && !typing) { event.preventDefault(); $("help").showModal(); return; }
    if (typing || $("desk").hidden || event.ctrlKey || event.metaKey || event.altKey) return;
    const rows = Array.from(document.querySelectorAll(".ticket-row"));
    if ((event.key === "j" || event.key === "k") && rows.length) {
      state.selected = Math.max(0, Math.min(rows.length - 1, state.selected + (event.key === "j" ? 1 : -1)));
      rows.forEach((row, i) => row.classList.toggle("selected", i === state.selected));
      rows[state.selected].focus();
    } else if (event.key === "r" && !$("ticket-view").hidden) {
      event.preventDefault();
      $("reply-text").focus();
    } else if (event.key === "c" && rows[state.selected]) {
      claim(rows[state.selected].closest(".queue").dataset.queue);
    }
  }

  async function start() {
    $("login-form").addEventListener("submit", login);
    $("logout").addEventListener("click", async () => {
      try { await api("POST", "/logout"); } catch (_) { /* signed out either way */ }
      state.ticket = null;
      showLogin();
    });
    $("help-button").addEventListener("click", () => $("help").showModal());
    document.addEventListener("keydown", onKey);
    // Waiting times count up on their own: redraw them every half minute.
    setInterval(() => { if (state.queues.length) renderQueues(state.queues); }, 30000);
    bindTicketForms();
    try {
      signedIn((await api("GET", "/me")).account);
    } catch (_) { showLogin(); }
  }

  document.addEventListener("DOMContentLoaded", start);
})();
