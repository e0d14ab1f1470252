/*!
 * lingodesk chat widget: a launcher button and a chat panel that talk to Rasa's socket.io
 * channel. Plain ES2017, no build step; embed with one <script> tag (see README.md).
 * Licence: Apache-2.0 (lingodesk). Loads vendor/socket.io.min.js (MIT) from beside itself.
 */
(function () {
  "use strict";

  const SCRIPT = document.currentScript;
  // Assets (stylesheet, socket.io client) are found next to this script, wherever it is served.
  const BASE_URL = SCRIPT && SCRIPT.src ? new URL(".", SCRIPT.src).href : "";
  const RTL_LANGUAGES = ["ar", "he", "fa", "ur"];
  const SAFE_LINK = /^(https?:|mailto:)/i;
  // Images: http(s), data:image and relative URLs (no scheme), never javascript: and the like.
  const SAFE_IMAGE = /^(https?:|data:image\/|(?![a-z][\w+.-]*:))/i;
  // Markdown links [label](url) and bare http(s) URLs, the two link forms Rasa responses use.
  const LINK_PATTERN = /\[([^\]\n]+)\]\(([^)\s]+)\)|(https?:\/\/[^\s<>()]+[^\s<>().,;:!?'"])/g;
  // A lingodesk payload that arrives without text annotates the bot text sent just before it
  // (Rasa's socket.io output sends a response's `text` and `custom` as two events).
  const MERGE_WINDOW_MS = 3000;
  const TYPING_TIMEOUT_MS = 20000;

  const DEFAULTS = {
    serverUrl: "http://127.0.0.1:5005",
    socketPath: "/socket.io",
    title: "",
    language: "",
    colors: {},
    open: false,
    developer: false,
    apiToken: "",
    storageKey: "lingodesk",
    maxStoredMessages: 200,
    socketIoClientUrl: BASE_URL + "vendor/socket.io.min.js",
    stylesheetUrl: BASE_URL + "lingodesk-widget.css",
  };

  // Config colour name -> CSS custom property of the stylesheet.
  const COLOR_PROPERTIES = {
    primary: "--ld-primary",
    onPrimary: "--ld-on-primary",
    background: "--ld-background",
    text: "--ld-text",
    userBubble: "--ld-user-bubble",
    onUserBubble: "--ld-on-user-bubble",
    botBubble: "--ld-bot-bubble",
    agentBubble: "--ld-agent-bubble",
  };

  /* UI strings. Message texts come from the server in the customer's language; these label
     the widget itself. Keys missing in a language fall back to English. */
  const STRINGS = {
    en: {
      launcher: "Chat with us", title: "Customer support", subtitle: "Virtual assistant",
      close: "Close chat", inputLabel: "Your message", placeholder: "Type your message…",
      send: "Send", typing: "The assistant is typing…", connecting: "Connecting…",
      reconnecting: "Connection lost. Reconnecting…",
      queuedOffline: "Your message will be sent when the connection is back.",
      you: "You", assistant: "Assistant", agent: "{agent} (support agent)",
      agentDefault: "Support agent", notice: "Notice",
      queuedStatus: "Waiting for an agent · position {position}",
      queuedStatusNoPosition: "Waiting for an agent",
      queuedFallback: "You are in the queue for a human agent (position {position}).",
      agentStatus: "Chatting with {agent}", botBackFallback: "The virtual assistant is back.",
      quickReplies: "Suggested replies", imageAlt: "Image sent by the assistant",
      conversation: "Conversation", unread: "{count} new",
    },
    de: {
      launcher: "Chat mit uns", title: "Kundenservice", subtitle: "Virtueller Assistent",
      close: "Chat schließen", inputLabel: "Ihre Nachricht", placeholder: "Nachricht eingeben …",
      send: "Senden", typing: "Der Assistent schreibt …",
      connecting: "Verbindung wird hergestellt …",
      reconnecting: "Verbindung unterbrochen. Neuer Versuch …",
      queuedOffline: "Ihre Nachricht wird gesendet, sobald die Verbindung wieder steht.",
      you: "Sie", assistant: "Assistent", agent: "{agent} (Kundenservice)",
      agentDefault: "Kundenservice", notice: "Hinweis",
      queuedStatus: "Warten auf einen Mitarbeiter · Position {position}",
      queuedStatusNoPosition: "Warten auf einen Mitarbeiter",
      queuedFallback: "Sie sind in der Warteschlange für einen Mitarbeiter (Position {position}).",
      agentStatus: "Im Chat mit {agent}",
      botBackFallback: "Der virtuelle Assistent ist wieder für Sie da.",
      quickReplies: "Antwortvorschläge", imageAlt: "Bild vom Assistenten",
      conversation: "Unterhaltung", unread: "{count} neu",
    },
    ar: {
      launcher: "تحدث معنا", title: "خدمة العملاء", subtitle: "المساعد الافتراضي",
      close: "إغلاق المحادثة", inputLabel: "رسالتك", placeholder: "اكتب رسالتك…",
      send: "إرسال", typing: "المساعد يكتب…", connecting: "جارٍ الاتصال…",
      reconnecting: "انقطع الاتصال. جارٍ إعادة الاتصال…",
      queuedOffline: "سيتم إرسال رسالتك عند عودة الاتصال.",
      you: "أنت", assistant: "المساعد", agent: "{agent} (موظف خدمة العملاء)",
      agentDefault: "موظف خدمة العملاء", notice: "تنبيه",
      queuedStatus: "بانتظار موظف · ترتيبك {position}",
      queuedStatusNoPosition: "بانتظار موظف",
      queuedFallback: "أنت الآن في قائمة الانتظار للتحدث مع موظف (ترتيبك {position}).",
      agentStatus: "تتحدث مع {agent}", botBackFallback: "عاد المساعد الافتراضي.",
      quickReplies: "ردود مقترحة", imageAlt: "صورة من المساعد", conversation: "المحادثة",
      unread: "{count} جديدة",
    },
    he: {
      launcher: "צ'אט איתנו", title: "שירות לקוחות", subtitle: "עוזר וירטואלי",
      close: "סגירת הצ'אט", inputLabel: "ההודעה שלך", placeholder: "כתבו הודעה…",
      send: "שליחה", typing: "העוזר מקליד…", connecting: "מתחבר…",
      reconnecting: "החיבור נותק. מתחבר מחדש…",
      queuedOffline: "ההודעה תישלח כשהחיבור יחזור.",
      you: "את/ה", assistant: "העוזר", agent: "{agent} (נציג שירות)",
      agentDefault: "נציג שירות", notice: "הודעה",
      queuedStatus: "ממתינים לנציג · מקום {position} בתור",
      queuedStatusNoPosition: "ממתינים לנציג",
      queuedFallback: "את/ה בתור לנציג אנושי (מקום {position}).",
      agentStatus: "בשיחה עם {agent}", botBackFallback: "העוזר הווירטואלי חזר.",
      quickReplies: "תשובות מוצעות", imageAlt: "תמונה מהעוזר", conversation: "שיחה",
      unread: "{count} חדשות",
    },
    es: {
      launcher: "Chatea con nosotros", title: "Atención al cliente", subtitle: "Asistente virtual",
      close: "Cerrar chat", inputLabel: "Tu mensaje", placeholder: "Escribe tu mensaje…",
      send: "Enviar", typing: "El asistente está escribiendo…", connecting: "Conectando…",
      reconnecting: "Conexión perdida. Reconectando…",
      queuedOffline: "Tu mensaje se enviará cuando vuelva la conexión.",
      you: "Tú", assistant: "Asistente", agent: "{agent} (agente de soporte)",
      agentDefault: "Agente de soporte", notice: "Aviso",
      queuedStatus: "Esperando a un agente · posición {position}",
      queuedStatusNoPosition: "Esperando a un agente",
      queuedFallback: "Estás en la cola para hablar con un agente (posición {position}).",
      agentStatus: "Hablando con {agent}", botBackFallback: "El asistente virtual ha vuelto.",
      quickReplies: "Respuestas sugeridas", imageAlt: "Imagen enviada por el asistente",
      conversation: "Conversación", unread: "{count} nuevos",
    },
    fr: {
      launcher: "Discuter avec nous", title: "Service client", subtitle: "Assistant virtuel",
      close: "Fermer la discussion", inputLabel: "Votre message",
      placeholder: "Écrivez votre message…", send: "Envoyer", typing: "L'assistant écrit…",
      connecting: "Connexion…", reconnecting: "Connexion perdue. Reconnexion…",
      queuedOffline: "Votre message sera envoyé dès le retour de la connexion.",
      you: "Vous", assistant: "Assistant", agent: "{agent} (conseiller)",
      agentDefault: "Conseiller", notice: "Information",
      queuedStatus: "En attente d'un conseiller · position {position}",
      queuedStatusNoPosition: "En attente d'un conseiller",
      queuedFallback: "Vous êtes dans la file d'attente d'un conseiller (position {position}).",
      agentStatus: "En discussion avec {agent}",
      botBackFallback: "L'assistant virtuel est de retour.",
      quickReplies: "Réponses suggérées", imageAlt: "Image envoyée par l'assistant",
      conversation: "Conversation", unread: "{count} nouveaux",
    },
    pt: {
      launcher: "Fale conosco", title: "Atendimento ao cliente", subtitle: "Assistente virtual",
      close: "Fechar chat", inputLabel: "Sua mensagem", placeholder: "Digite sua mensagem…",
      send: "Enviar", typing: "O assistente está digitando…", connecting: "Conectando…",
      reconnecting: "Conexão perdida. Reconectando…",
      queuedOffline: "Sua mensagem será enviada quando a conexão voltar.",
      you: "Você", assistant: "Assistente", agent: "{agent} (atendente)",
      agentDefault: "Atendente", notice: "Aviso",
      queuedStatus: "Aguardando um atendente · posição {position}",
      queuedStatusNoPosition: "Aguardando um atendente",
      queuedFallback: "Você está na fila para falar com um atendente (posição {position}).",
      agentStatus: "Conversando com {agent}",
      botBackFallback: "O assistente virtual está de volta.",
      quickReplies: "Respostas sugeridas", imageAlt: "Imagem enviada pelo assistente",
      conversation: "Conversa", unread: "{count} novas",
    },
    zh: {
      launcher: "在线咨询", title: "客户服务", subtitle: "智能助手", close: "关闭聊天",
      inputLabel: "您的消息", placeholder: "请输入消息…", send: "发送",
      typing: "助手正在输入…", connecting: "正在连接…", reconnecting: "连接已断开，正在重新连接…",
      queuedOffline: "连接恢复后将发送您的消息。", you: "您", assistant: "助手",
      agent: "{agent}（人工客服）", agentDefault: "人工客服", notice: "通知",
      queuedStatus: "正在等待人工客服 · 第 {position} 位",
      queuedStatusNoPosition: "正在等待人工客服",
      queuedFallback: "您已进入人工客服队列（第 {position} 位）。",
      agentStatus: "正在与 {agent} 对话", botBackFallback: "智能助手已回来。",
      quickReplies: "推荐回复", imageAlt: "助手发送的图片", conversation: "对话",
      unread: "{count} 条新消息",
    },
    ja: {
      launcher: "チャットで相談", title: "カスタマーサポート", subtitle: "バーチャルアシスタント",
      close: "チャットを閉じる", inputLabel: "メッセージ", placeholder: "メッセージを入力…",
      send: "送信", typing: "アシスタントが入力中…", connecting: "接続中…",
      reconnecting: "接続が切れました。再接続しています…",
      queuedOffline: "接続が戻り次第メッセージを送信します。", you: "あなた",
      assistant: "アシスタント", agent: "{agent}（サポート担当）", agentDefault: "サポート担当",
      notice: "お知らせ", queuedStatus: "担当者を待っています · {position} 番目",
      queuedStatusNoPosition: "担当者を待っています",
      queuedFallback: "担当者の順番待ちに入りました（{position} 番目）。",
      agentStatus: "{agent} と対話中", botBackFallback: "バーチャルアシスタントに戻りました。",
      quickReplies: "返信の候補", imageAlt: "アシスタントからの画像", conversation: "会話",
      unread: "新着 {count} 件",
    },
  };

  function baseLanguage(tag) {
    return String(tag || "").trim().toLowerCase().split(/[-_]/)[0];
  }

  function format(template, values) {
    return template.replace(/\{(\w+)\}/g, (match, key) =>
      values[key] === undefined || values[key] === null ? match : String(values[key]));
  }

  function element(tag, attributes, children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "text") node.textContent = value;
      else if (name === "className") node.className = value;
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children || []) if (child) node.append(child);
    return node;
  }

  /* Server text is never parsed as HTML: it becomes text nodes, line breaks and links to
     http(s)/mailto URLs only. */
  function renderText(text) {
    const fragment = document.createDocumentFragment();
    String(text).split("\n").forEach((line, index) => {
      if (index > 0) fragment.append(document.createElement("br"));
      let last = 0;
      for (const match of line.matchAll(LINK_PATTERN)) {
        const [whole, label, markdownUrl, bareUrl] = match;
        const url = markdownUrl || bareUrl;
        fragment.append(line.slice(last, match.index));
        if (SAFE_LINK.test(url)) {
          fragment.append(element("a", {
            href: url, target: "_blank", rel: "noopener noreferrer", text: label || url,
          }));
        } else {
          fragment.append(whole);
        }
        last = match.index + whole.length;
      }
      fragment.append(line.slice(last));
    });
    return fragment;
  }

  /* Rasa's socket.io output emits `{text}`, `{text, quick_replies}`,
     `{attachment: {type: "image", payload: {src}}}` and custom payloads as they are. A
     lingodesk payload may come inside `custom` or `data` depending on the channel. */
  function normalize(payload) {
    if (typeof payload === "string") payload = { text: payload };
    if (!payload || typeof payload !== "object") return null;
    const lingodesk = payload.lingodesk
      || (payload.custom && payload.custom.lingodesk)
      || (payload.data && payload.data.lingodesk) || null;
    const attachment = payload.attachment || {};
    const image = payload.image
      || (attachment.type === "image" && attachment.payload && attachment.payload.src) || "";
    const replies = (payload.quick_replies || payload.buttons || [])
      .filter((reply) => reply && reply.title)
      .map((reply) => ({
        title: String(reply.title), payload: String(reply.payload || reply.title),
      }));
    const text = typeof payload.text === "string" ? payload.text : "";
    if (!text && !image && !replies.length && !lingodesk) return null;
    return { text, image: String(image), replies, lingodesk };
  }

  class Widget {
    constructor(config) {
      this.config = Object.assign({}, DEFAULTS, config || {});
      this.config.serverUrl = String(this.config.serverUrl).replace(/\/+$/, "");
      this.storageName = this.config.storageKey + ":" + this.config.serverUrl;
      this.state = this.loadState();
      this.socket = null;
      this.ready = false;
      this.outbox = [];
      this.typingTimer = null;
      this.lastBotAt = 0;
      this.inspections = [];
      this.nodes = new Map();
      this.wasConnected = false;
      this.connectionFailed = false; // the socket.io client itself did not load
      this.pinned = true; // follow new messages unless the customer scrolled up to read
      this.mount();
      this.applyLanguage();
      this.setOpen(this.state.open || this.config.open, false);
      this.connect();
    }

    /* ---------- persistence: the session id and the visible transcript survive reloads */

    loadState() {
      const empty = {
        sessionId: null, conversationId: null, messages: [], open: false, handoff: null,
        unread: 0, nextId: 1,
      };
      try {
        const saved = JSON.parse(window.localStorage.getItem(this.storageName) || "null");
        return saved && Array.isArray(saved.messages) ? Object.assign(empty, saved) : empty;
      } catch (error) {
        return empty; // storage disabled or corrupt: start a fresh conversation
      }
    }

    saveState() {
      this.state.messages = this.state.messages.slice(-this.config.maxStoredMessages);
      try {
        window.localStorage.setItem(this.storageName, JSON.stringify(this.state));
      } catch (error) {
        // Private mode or a full quota: the chat works, it just will not survive a reload.
      }
    }

    /* ---------- DOM */

    mount() {
      this.host = element("div", { className: "lingodesk-widget-host" });
      const root = this.host.attachShadow({ mode: "open" });
      this.host.style.visibility = "hidden"; // until the stylesheet is in, no unstyled flash
      const stylesheet = element("link", { rel: "stylesheet", href: this.config.stylesheetUrl });
      stylesheet.addEventListener("load", () => { this.host.style.visibility = ""; });
      stylesheet.addEventListener("error", () => { this.host.style.visibility = ""; });

      const panelId = "lingodesk-panel";
      this.launcher = element("button", {
        type: "button", className: "ld-launcher", "aria-haspopup": "dialog",
        "aria-expanded": "false", "aria-controls": panelId,
      });
      this.launcher.innerHTML = '<svg viewBox="0 0 24 24" aria-hidden="true" focusable="false">'
        + '<path d="M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4H4'
        + 'a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z"/></svg>';
      this.launcherLabel = element("span", { className: "ld-launcher-label" });
      this.unreadNode = element("span", { className: "ld-unread", hidden: true });
      this.launcher.append(this.launcherLabel, this.unreadNode);

      this.titleNode = element("h2", { className: "ld-title", id: "lingodesk-title" });
      this.subtitleNode = element("p", { className: "ld-subtitle", role: "status" });
      this.closeButton = element("button", { type: "button", className: "ld-close" });
      this.closeButton.innerHTML = '<svg viewBox="0 0 24 24" aria-hidden="true" focusable="false">'
        + '<path d="M6 6l12 12M18 6L6 18"/></svg>';
      const header = element("header", { className: "ld-header" }, [
        element("div", { className: "ld-heading" }, [this.titleNode, this.subtitleNode]),
        this.closeButton,
      ]);

      this.log = element("div", {
        className: "ld-log", role: "log", "aria-live": "polite", "aria-relevant": "additions",
        tabindex: "0",
      });
      this.typingNode = element("div", { className: "ld-typing", role: "status", hidden: true }, [
        element("span", { className: "ld-dots", "aria-hidden": "true" }, [
          element("span"), element("span"), element("span"),
        ]),
        element("span", { className: "ld-typing-label" }),
      ]);
      this.connectionNode = element("p", {
        className: "ld-connection", role: "status", hidden: true,
      });

      this.input = element("input", {
        type: "text", className: "ld-input", id: "lingodesk-input", autocomplete: "off",
        dir: "auto", maxlength: "2000",
      });
      this.inputLabel = element("label", {
        className: "ld-visually-hidden", for: "lingodesk-input",
      });
      this.sendButton = element("button", { type: "submit", className: "ld-send" });
      this.sendButton.innerHTML = '<svg viewBox="0 0 24 24" aria-hidden="true" focusable="false">'
        + '<path d="M3 20l18-8L3 4v6l12 2-12 2z"/></svg>';
      this.form = element("form", { className: "ld-composer" }, [
        this.inputLabel, this.input, this.sendButton,
      ]);

      this.panel = element("section", {
        className: "ld-panel", id: panelId, role: "dialog", "aria-modal": "false",
        "aria-labelledby": "lingodesk-title", hidden: true,
      }, [header, this.log, this.typingNode, this.connectionNode, this.form]);
      this.frame = element("div", { className: "ld-frame" }, [this.panel, this.launcher]);
      const colors = this.config.colors || {};
      for (const [name, property] of Object.entries(COLOR_PROPERTIES)) {
        if (colors[name]) this.frame.style.setProperty(property, colors[name]);
      }
      root.append(stylesheet, this.frame);
      document.body.append(this.host);

      this.log.addEventListener("scroll", () => {
        this.pinned = this.log.scrollTop + this.log.clientHeight >= this.log.scrollHeight - 24;
      });
      this.launcher.addEventListener("click", () => this.setOpen(!this.isOpen(), true));
      this.closeButton.addEventListener("click", () => this.setOpen(false, true));
      this.frame.addEventListener("keydown", (event) => {
        if (event.key === "Escape" && this.isOpen()) {
          event.preventDefault();
          this.setOpen(false, true);
        }
      });
      this.form.addEventListener("submit", (event) => {
        event.preventDefault();
        const text = this.input.value.trim();
        if (!text) return;
        this.input.value = "";
        this.send(text, text);
      });
      // Follow a page whose language switcher changes <html lang> without a reload.
      if (!this.config.language) {
        new MutationObserver(() => this.applyLanguage()).observe(document.documentElement, {
          attributes: true, attributeFilter: ["lang"],
        });
      }
    }

    isOpen() {
      return !this.panel.hidden;
    }

    /** Opens or closes the panel; `moveFocus` is true when the user asked, so focus follows. */
    setOpen(open, moveFocus) {
      this.panel.hidden = !open;
      this.launcher.setAttribute("aria-expanded", String(open));
      this.frame.classList.toggle("ld-open", open);
      this.state.open = open;
      if (open) {
        this.state.unread = 0;
        this.updateUnread();
        this.scrollToEnd(true);
        if (moveFocus) this.input.focus();
      } else if (moveFocus) {
        this.launcher.focus();
      }
      this.saveState();
    }

    /* ---------- language and direction of the widget's own labels */

    applyLanguage() {
      const tag = this.config.language || document.documentElement.lang || navigator.language;
      const code = baseLanguage(tag);
      this.strings = Object.assign({}, STRINGS.en, STRINGS[code] || {});
      const direction = RTL_LANGUAGES.includes(code) ? "rtl" : "ltr";
      this.frame.setAttribute("dir", direction);
      this.frame.setAttribute("lang", STRINGS[code] ? code : "en");
      const s = this.strings;
      this.launcherLabel.textContent = s.launcher;
      this.updateUnread();
      this.titleNode.textContent = this.config.title || s.title;
      this.closeButton.setAttribute("aria-label", s.close);
      this.inputLabel.textContent = s.inputLabel;
      this.input.placeholder = s.placeholder;
      this.sendButton.setAttribute("aria-label", s.send);
      this.log.setAttribute("aria-label", s.conversation);
      this.typingNode.querySelector(".ld-typing-label").textContent = s.typing;
      this.updateSubtitle();
      this.updateConnection();
      this.renderAll();
    }

    /** The launcher's badge; its text is part of the launcher's accessible name. */
    updateUnread() {
      this.unreadNode.hidden = !this.state.unread;
      this.unreadNode.textContent = this.state.unread
        ? this.t("unread", { count: this.state.unread }) : "";
    }

    t(key, values) {
      return format(this.strings[key], values || {});
    }

    /* ---------- connection: Rasa's socket.io channel with session persistence */

    connect() {
      this.updateConnection();
      loadSocketIo(this.config.socketIoClientUrl).then((io) => {
        const socket = io(this.config.serverUrl, {
          path: this.config.socketPath,
          transports: ["websocket", "polling"],
          tryAllTransports: true,
          reconnectionDelay: 500,
          reconnectionDelayMax: 5000,
        });
        this.socket = socket;
        // Every (re)connection asks for the stored session, so Rasa keeps one conversation.
        socket.on("connect", () => {
          socket.emit("session_request", { session_id: this.state.sessionId });
        });
        socket.on("session_confirm", (confirmed) => {
          // The server issues the session: a signed token, and the conversation it names
          // (for the developer view's tracker); a bare id from an older server works too.
          const object = confirmed && typeof confirmed === "object";
          const id = object ? confirmed.session_id : confirmed;
          if (id) this.state.sessionId = String(id);
          this.state.conversationId = object && confirmed.conversation_id
            ? String(confirmed.conversation_id) : this.state.sessionId;
          this.saveState();
          this.ready = true;
          this.wasConnected = true;
          this.updateConnection();
          const pending = this.outbox.splice(0);
          for (const message of pending) this.emitUserMessage(message);
        });
        socket.on("bot_uttered", (payload) => this.receive(payload));
        socket.on("disconnect", (reason) => {
          this.ready = false;
          this.updateConnection();
          if (reason === "io server disconnect") socket.connect(); // the server hung up: retry
        });
        socket.on("connect_error", () => {
          this.ready = false;
          this.updateConnection();
        });
      }).catch(() => {
        this.connectionFailed = true;
        this.updateConnection();
      });
    }

    updateConnection() {
      this.connectionNode.hidden = this.ready;
      if (this.ready) return;
      let text = this.wasConnected || this.connectionFailed
        ? this.t("reconnecting") : this.t("connecting");
      if (this.outbox.length) text += " " + this.t("queuedOffline");
      this.connectionNode.textContent = text;
    }

    /** Sends a user message; `shown` is what the transcript shows (a quick reply's title). */
    send(shown, payload) {
      for (const old of this.state.messages) {
        if (old.replies.length && !old.answered) {
          old.answered = true;
          const node = this.nodes.get(old.id);
          const group = node && node.querySelector(".ld-replies");
          if (group) group.remove();
        }
      }
      this.pinned = true; // the customer's own message always comes into view
      const message = this.addMessage({ role: "user", text: shown, sent: payload });
      this.saveState();
      if (this.ready) {
        this.emitUserMessage(message);
      } else {
        this.outbox.push(message);
        this.updateConnection();
      }
    }

    emitUserMessage(message) {
      this.socket.emit("user_uttered", {
        session_id: this.state.sessionId,
        message: message.sent,
        metadata: {
          language_hint: navigator.language || "",
          page_language: document.documentElement.lang || this.config.language || "",
        },
      });
      if (!this.state.handoff) this.setTyping(true); // a human's answer takes minutes, not seconds
      if (this.config.developer) this.queueInspection(message);
    }

    /* ---------- incoming bot messages */

    receive(payload) {
      const message = normalize(payload);
      if (!message) return;
      this.setTyping(false);
      const kind = message.lingodesk && message.lingodesk.kind;
      const previous = this.state.messages[this.state.messages.length - 1];
      const annotatesPrevious = kind && !message.text && !message.image && previous
        && previous.role === "bot" && !previous.kind
        && Date.now() - this.lastBotAt < MERGE_WINDOW_MS;
      if (annotatesPrevious) {
        this.classify(previous, message.lingodesk);
        this.render(previous);
      } else {
        const fields = {
          role: "bot", text: message.text, image: message.image, replies: message.replies,
        };
        if (kind) this.classify(fields, message.lingodesk);
        this.addMessage(fields);
        if (!this.isOpen()) {
          this.state.unread += 1; // an agent may answer minutes later, with the panel closed
          this.updateUnread();
        }
      }
      this.lastBotAt = Date.now();
      this.saveState();
      this.runInspections();
    }

    /* Applies the handoff contract: who speaks (agent / system notice) and the handoff state
       shown in the header. Unknown kinds leave a plain bot message. */
    classify(message, lingodesk) {
      const kind = lingodesk.kind;
      if (kind === "handoff_queued") {
        message.role = "system";
        message.kind = kind;
        this.state.handoff = {
          state: "queued", position: lingodesk.position, queue: lingodesk.queue,
          waitMinutes: lingodesk.wait_minutes,
        };
        if (!message.text) message.fallback = "queuedFallback";
      } else if (kind === "agent_message") {
        message.role = "agent";
        message.kind = kind;
        message.agent = lingodesk.agent || "";
        this.state.handoff = { state: "agent", agent: message.agent };
      } else if (kind === "bot_back") {
        message.role = "system";
        message.kind = kind;
        this.state.handoff = null;
        if (!message.text) message.fallback = "botBackFallback";
      }
      if (message.kind) message.position = lingodesk.position;
      this.updateSubtitle();
    }

    updateSubtitle() {
      const handoff = this.state.handoff;
      let text = this.t("subtitle");
      if (handoff && handoff.state === "queued") {
        text = handoff.position === undefined || handoff.position === null
          ? this.t("queuedStatusNoPosition")
          : this.t("queuedStatus", { position: handoff.position });
      } else if (handoff && handoff.state === "agent") {
        text = this.t("agentStatus", { agent: handoff.agent || this.t("agentDefault") });
      }
      this.subtitleNode.textContent = text;
      this.frame.dataset.handoff = handoff ? handoff.state : "bot";
    }

    addMessage(fields) {
      const message = Object.assign({ id: this.state.nextId++, replies: [] }, fields);
      this.state.messages.push(message);
      this.render(message);
      return message;
    }

    setTyping(on) {
      clearTimeout(this.typingTimer);
      this.typingNode.hidden = !on;
      if (on) {
        this.typingTimer = setTimeout(() => { this.typingNode.hidden = true; }, TYPING_TIMEOUT_MS);
      }
      this.scrollToEnd();
    }

    /* ---------- rendering. The log is an aria-live region: messages are appended or replaced
       one by one, so a screen reader announces each new message once, not the whole log. */

    renderAll() {
      this.log.setAttribute("aria-busy", "true");
      this.nodes.clear();
      this.log.replaceChildren(...this.state.messages.map((message) => {
        const node = this.renderMessage(message);
        this.nodes.set(message.id, node);
        return node;
      }));
      this.log.removeAttribute("aria-busy");
      this.scrollToEnd(true);
    }

    render(message) {
      const node = this.renderMessage(message);
      const old = this.nodes.get(message.id);
      if (old) old.replaceWith(node);
      else this.log.append(node);
      this.nodes.set(message.id, node);
      this.scrollToEnd();
    }

    renderMessage(message) {
      const s = this.strings;
      const speaker = {
        user: s.you, bot: s.assistant, system: s.notice,
        agent: this.t("agent", { agent: message.agent || s.agentDefault }),
      }[message.role] || s.assistant;
      const item = element("div", {
        className: "ld-message ld-" + message.role, "data-kind": message.kind || null,
        "data-id": message.id,
      });
      if (message.role === "agent") {
        item.append(element("p", {
          className: "ld-speaker", "aria-hidden": "true", text: speaker,
        }));
      }
      const text = message.text || (message.fallback ? this.t(message.fallback, message) : "");
      if (text) {
        const bubble = element("p", { className: "ld-bubble", dir: "auto" }, [
          element("span", { className: "ld-visually-hidden", text: speaker + ": " }),
        ]);
        bubble.append(renderText(text));
        item.append(bubble);
      }
      if (message.image && SAFE_IMAGE.test(message.image)) {
        const image = element("img", {
          className: "ld-image", src: message.image, alt: s.imageAlt,
        });
        image.addEventListener("load", () => this.scrollToEnd()); // it grew the log
        item.append(image);
      }
      if (message.replies && message.replies.length && !message.answered) {
        const group = element("div", {
          className: "ld-replies", role: "group", "aria-label": s.quickReplies,
        });
        for (const reply of message.replies) {
          const button = element("button", {
            type: "button", className: "ld-reply", dir: "auto", text: reply.title,
          });
          button.addEventListener("click", () => {
            this.send(reply.title, reply.payload);
            this.input.focus();
          });
          group.append(button);
        }
        item.append(group);
      }
      if (message.role === "user" && this.config.developer) {
        item.append(this.renderInspection(message));
      }
      return item;
    }

    /** Keeps the newest message in view after the log changed (also once layout settled). */
    scrollToEnd(force) {
      if (!force && !this.pinned) return;
      this.pinned = true;
      this.log.scrollTop = this.log.scrollHeight;
      requestAnimationFrame(() => { this.log.scrollTop = this.log.scrollHeight; });
    }

    /* ---------- developer view: what the NLU understood, from Rasa's HTTP API */

    queueInspection(message) {
      message.dev = { status: "pending" };
      this.inspections.push({ message, tries: 0 });
      // If the bot stays silent, look anyway once it had time to process the message.
      setTimeout(() => this.runInspections(), 2500);
    }

    runInspections() {
      if (!this.inspections.length || this.inspecting) return;
      this.inspecting = true;
      const pending = this.inspections.splice(0);
      this.fetchTracker().then((tracker) => {
        const userEvents = (tracker.events || []).filter((event) => event.event === "user");
        for (const job of pending) {
          const event = findUserEvent(userEvents, job.message.sent);
          if (event) {
            job.message.dev = Object.assign(
              { status: "ok" }, summarizeParse(event.parse_data || {}));
          } else if (++job.tries < 5) {
            this.inspections.push(job); // not processed yet: ask again shortly
          } else {
            job.message.dev = { status: "error", error: "No parse result found for this message." };
          }
        }
      }, (error) => {
        for (const job of pending) job.message.dev = { status: "error", error: error.message };
      }).then(() => {
        this.inspecting = false;
        this.saveState();
        for (const job of pending) this.updateInspection(job.message);
        if (this.inspections.length) setTimeout(() => this.runInspections(), 700);
      });
    }

    fetchTracker() {
      const base = this.config.serverUrl + "/conversations/"
        + encodeURIComponent(this.state.conversationId || this.state.sessionId) + "/tracker";
      const url = this.config.apiToken
        ? base + "?token=" + encodeURIComponent(this.config.apiToken) : base;
      return fetch(url, { headers: { Accept: "application/json" } }).then((response) => {
        if (response.status === 401 || response.status === 403) {
          throw new Error("The Rasa HTTP API refused the request (" + response.status
            + "): start Rasa with --enable-api, and set apiToken if it uses a token.");
        }
        if (!response.ok) throw new Error("The Rasa HTTP API answered " + response.status + ".");
        return response.json();
      }, () => {
        throw new Error("Cannot reach the Rasa HTTP API at " + this.config.serverUrl
          + " (is --enable-api on, and this page's origin allowed by --cors?).");
      });
    }

    updateInspection(message) {
      const node = this.nodes.get(message.id);
      const old = node && node.querySelector(".ld-dev");
      if (old) old.replaceWith(this.renderInspection(message));
      this.scrollToEnd();
    }

    /* Developer view labels stay English: they name Rasa's parse-result keys. */
    renderInspection(message) {
      const dev = message.dev || { status: "pending" };
      const box = element("div", { className: "ld-dev", dir: "ltr", lang: "en" });
      if (dev.status === "pending") {
        box.append(element("p", { text: "Developer view: waiting for the parse result…" }));
        return box;
      }
      if (dev.status === "error") {
        box.classList.add("ld-dev-error");
        box.append(element("p", { text: "Developer view unavailable: " + dev.error }));
        return box;
      }
      const list = element("dl");
      box.append(list);
      const rows = [
        ["Language", dev.language], ["Intent", dev.intent],
        ["Sentiment", dev.sentiment], ["Entities", dev.entities],
      ];
      for (const [label, value] of rows) {
        list.append(element("div", { className: "ld-dev-row" }, [
          element("dt", { text: label }), element("dd", { text: value }),
        ]));
      }
      return box;
    }
  }

  function findUserEvent(userEvents, sent) {
    for (let index = userEvents.length - 1; index >= 0; index--) {
      if (userEvents[index].text === sent) return userEvents[index];
    }
    return null;
  }

  function percent(confidence) {
    return typeof confidence === "number" ? " " + Math.round(confidence * 100) + "%" : "";
  }

  /* Reads the parse-result keys of docs/architecture.md; absent keys (a pipeline without
     lingodesk's components) show as "n/a" rather than breaking the view. */
  function summarizeParse(parse) {
    const language = parse.language || {};
    const intent = parse.intent || {};
    const sentiment = parse.sentiment || {};
    const entities = (parse.entities || []).map((entity) =>
      entity.entity + "=" + JSON.stringify(entity.value)
      + (typeof entity.confidence_entity === "number" ? percent(entity.confidence_entity) : ""));
    return {
      language: language.code
        ? language.code + percent(language.confidence)
          + (language.source ? " (" + language.source + ")" : "")
        : "n/a",
      intent: intent.name ? intent.name + percent(intent.confidence) : "n/a",
      sentiment: sentiment.label ? sentiment.label + percent(sentiment.confidence) : "n/a",
      entities: entities.length ? entities.join(", ") : "none",
    };
  }

  /* Loads the vendored socket.io client once. It keeps the page's own `window.io` (which may
     be another version) untouched. */
  let socketIoPromise = null;
  function loadSocketIo(url) {
    if (!socketIoPromise) {
      socketIoPromise = new Promise((resolve, reject) => {
        const pageIo = window.io;
        const script = element("script", { src: url, async: true });
        script.addEventListener("load", () => {
          const io = window.io;
          if (pageIo === undefined) delete window.io;
          else window.io = pageIo;
          if (typeof io === "function") resolve(io);
          else reject(new Error("socket.io client did not load from " + url));
        });
        script.addEventListener("error", () => reject(new Error("cannot load " + url)));
        document.head.append(script);
      });
    }
    return socketIoPromise;
  }

  let current = null;
  const api = {
    /** Starts the widget (once per page); returns the running instance. */
    init(config) {
      if (!current) current = new Widget(config);
      return current;
    },
    get current() {
      return current;
    },
  };
  window.LingodeskWidget = api;

  if (window.lingodeskConfig) {
    const start = () => api.init(window.lingodeskConfig);
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
    else start();
  }
})();
