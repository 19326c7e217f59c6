// The control room: encoder setup (the key hidden until revealed), the preview, go live and end, the
// audience and its chart, ingest health and alerts, the quality cap, the chat and its moderation.
// Live parts come over the platform's WebSocket (the artist joins the room like the watch page does, and is
// not counted); ingest health and ticket sales, which are not room events, are asked for every few seconds.
(function () {
  "use strict";
  const page = JSON.parse(document.getElementById("page-data").textContent);
  const { api, confirmAction, errorText, copyText } = window.Livestage;
  const $ = (id) => document.getElementById(id);
  const base = `/api/livestreams/${page.streamId}`;
  const STATUS_WORDS = { scheduled: "Scheduled", live: "Live", ended: "Ended", cancelled: "Cancelled" };

  function problem(text) {
    $("room-error").textContent = text || "";
  }

  // --- Status, go live, end ---------------------------------------------------------------------
  function showStatus(status) {
    const changed = status !== page.status;
    page.status = status;
    $("status").textContent = STATUS_WORDS[status] || status;
    $("status").className = `badge ${status}`;
    $("go-live").hidden = status !== "scheduled";
    $("end-show").hidden = status !== "live";
    $("room").classList.toggle("is-live", status === "live"); // live: the preview and chat come first
    if (changed) {
      if (status === "live") $("status-words").textContent = "You are live.";
      if (status === "ended") $("status-words").textContent = "The show has ended. Its analytics stay in the studio.";
      startPreview();
      pollHealth();
    }
  }

  $("go-live").addEventListener("click", async () => {
    const ok = await confirmAction({
      title: "Go live now?",
      message: "Fans in the room see the show start at once. Start your encoder first if it is not sending yet.",
      confirm: "Go live",
    });
    if (!ok) return;
    const result = await api("POST", `${base}/start`);
    if (result.ok) showStatus(result.data.status);
    else problem(errorText(result));
  });

  $("end-show").addEventListener("click", async () => {
    const ok = await confirmAction({
      title: "End the show?",
      message: "Your encoder is disconnected and the show cannot go live again. Fans see that it ended.",
      confirm: "End the show",
    });
    if (!ok) return;
    const result = await api("POST", `${base}/end`);
    if (result.ok) showStatus(result.data.status);
    else problem(errorText(result));
  });

  // --- The stream key: hidden until revealed, copied, rotated --------------------------------------
  let streamKey = null;
  const keyBox = $("stream-key");
  const keyNote = (text) => ($("key-note").textContent = text);

  async function loadKey() {
    if (streamKey) return streamKey;
    const result = await api("GET", `${base}/ingest`);
    if (!result.ok) {
      keyNote(errorText(result));
      return null;
    }
    streamKey = result.data.streamKey;
    return streamKey;
  }

  function showKey(visible) {
    keyBox.dataset.hidden = String(!visible);
    keyBox.textContent = visible ? streamKey : "••••••••••••••••";
    $("reveal-key").textContent = visible ? "Hide" : "Show";
    $("reveal-key").setAttribute("aria-expanded", String(visible));
  }

  $("reveal-key").addEventListener("click", async () => {
    if (keyBox.dataset.hidden === "false") return showKey(false);
    if (await loadKey()) showKey(true);
  });

  $("copy-key").addEventListener("click", async () => {
    if (!(await loadKey())) return;
    keyNote((await copyText(streamKey)) ? "Stream key copied." : "Could not copy: reveal the key and copy it by hand.");
  });

  document.querySelectorAll("[data-copy]").forEach((button) =>
    button.addEventListener("click", async () => {
      const text = $(button.dataset.copy).textContent.trim();
      keyNote((await copyText(text)) ? "Server address copied." : "Could not copy.");
    })
  );

  $("rotate-key").addEventListener("click", async () => {
    const ok = await confirmAction({
      title: "Make a new stream key?",
      message:
        "The current key stops working for the next connection: put the new key into your encoder. " +
        "A broadcast running now goes on.",
      confirm: "Make a new key",
    });
    if (!ok) return;
    const result = await api("POST", `${base}/stream-key/rotate`);
    if (!result.ok) return keyNote(errorText(result));
    streamKey = result.data.streamKey;
    showKey(keyBox.dataset.hidden === "false");
    keyNote("A new key was made: update your encoder.");
  });

  // --- Preview -----------------------------------------------------------------------------------
  const video = $("preview");
  let hls = null;
  let previewRetry = null;
  const previewMessage = (text) => {
    $("preview-message").textContent = text;
    $("preview-message").hidden = !text;
  };

  async function startPreview() {
    clearTimeout(previewRetry);
    // Live, or an encoder test before the show (publishing while scheduled): the preview plays.
    const testing = page.status === "scheduled" && page.publishing;
    if (page.status !== "live" && !testing) {
      if (hls) {
        hls.destroy();
        hls = null;
      }
      previewMessage(
        page.status === "scheduled"
          ? "The preview starts when your encoder sends its picture."
          : page.status === "ended"
            ? "The show has ended."
            : "This show was cancelled."
      );
      return;
    }
    const result = await api("GET", `${base}/playback`);
    if (!result.ok) {
      previewMessage(errorText(result, "The preview is not available."));
      previewRetry = setTimeout(startPreview, 5000);
      return;
    }
    previewMessage("");
    if (hls) hls.destroy();
    if (window.Hls && Hls.isSupported()) {
      hls = new Hls({ lowLatencyMode: true });
      hls.loadSource(result.data.url);
      hls.attachMedia(video);
      hls.on(Hls.Events.MANIFEST_PARSED, () => video.play().catch(() => {}));
      hls.on(Hls.Events.ERROR, (_e, data) => {
        if (!data.fatal) return;
        previewMessage("Waiting for your video…");
        clearTimeout(previewRetry);
        previewRetry = setTimeout(startPreview, 3000);
      });
    } else {
      video.src = result.data.url;
    }
    // Playback URLs expire after a few minutes: ask for a fresh one well before.
    const expires = new Date(result.data.expiresAt).getTime() - Date.now();
    previewRetry = setTimeout(startPreview, Math.max(10000, expires / 2));
  }
  window.Livestage.preview = { hls: () => hls, video };

  // --- The audience: count, chart, tickets ---------------------------------------------------------
  const points = { labels: [], values: [] };
  let chart = null;
  if (window.Chart) {
    chart = new Chart($("viewers-chart"), {
      type: "line",
      data: {
        labels: points.labels,
        datasets: [{ label: "Viewers", data: points.values, borderColor: "#ff3d71", backgroundColor: "rgba(255,61,113,.2)", fill: true, stepped: true, pointRadius: 0 }],
      },
      options: {
        animation: false,
        maintainAspectRatio: false,
        scales: { y: { beginAtZero: true, ticks: { precision: 0, color: "#9aa0aa" } }, x: { ticks: { color: "#9aa0aa", maxTicksLimit: 6 } } },
        plugins: { legend: { display: false } },
      },
    });
  }
  let viewers = 0;
  const clock = (when) => when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });

  function addPoint(when, value) {
    points.labels.push(clock(when));
    points.values.push(value);
    while (points.labels.length > 720) {
      points.labels.shift();
      points.values.shift();
    }
    if (chart) chart.update();
  }

  function showViewers(count) {
    viewers = count;
    $("viewers").textContent = String(count);
    if (count > Number($("peak").textContent)) $("peak").textContent = String(count);
    if (page.status === "live") addPoint(new Date(), count);
  }
  // A point every 10 s while live, so the chart moves on when the count stays the same.
  setInterval(() => page.status === "live" && addPoint(new Date(), viewers), 10000);

  async function seedChart() {
    if (!page.startedAt) return;
    const result = await api("GET", `${base}/analytics?interval=minute`);
    if (!result.ok) return;
    result.data.series.forEach((point) => addPoint(new Date(point.time), point.concurrentViewers));
    showLiveAnalytics(result.data.live);
  }

  function showLiveAnalytics(live) {
    if (!live || !live.ingest) return;
    const speed = live.ingest.transcoderSpeed;
    $("h-speed").textContent = speed === null || speed === undefined ? "—" : `${speed.toFixed(2)}× real time`;
  }

  async function pollAnalytics() {
    if (page.status === "live") {
      const result = await api("GET", `${base}/analytics?interval=minute`);
      if (result.ok) showLiveAnalytics(result.data.live);
    }
  }
  setInterval(pollAnalytics, 15000);

  async function pollTickets() {
    if (!page.isPayPerView) return;
    const result = await api("GET", `${base}/revenue`);
    if (result.ok) $("tickets").textContent = String(result.data.ticketsSold);
  }
  setInterval(pollTickets, 15000);

  // --- Ingest health, alerts, the quality cap ------------------------------------------------------
  const alerts = new Map(); // code -> {severity, message}

  function showAlerts() {
    const list = $("alerts");
    list.textContent = "";
    if (!alerts.size) {
      const none = document.createElement("li");
      none.className = "muted";
      none.textContent = "No alerts.";
      list.appendChild(none);
      return;
    }
    for (const [code, alert] of alerts) {
      const item = document.createElement("li");
      item.className = `alert ${alert.severity}`;
      item.dataset.code = code;
      item.textContent = alert.message;
      list.appendChild(item);
    }
  }

  function signalWords(health) {
    if (page.status === "ended") return "The show has ended.";
    if (page.status === "cancelled") return "This show was cancelled.";
    if (health.publishing === null || health.mediaServerReachable === false)
      return "The media server cannot be reached right now.";
    if (health.publishing)
      return page.status === "live"
        ? "Receiving your signal: you are on air."
        : "Receiving your signal: your encoder works.";
    return page.status === "live"
      ? "No signal from your encoder: fans see a waiting message."
      : "No signal yet: start streaming in your encoder to test it.";
  }

  async function pollHealth() {
    const result = await api("GET", `${base}/health`);
    if (!result.ok) return;
    const health = result.data;
    const signal = $("signal");
    signal.textContent = signalWords(health);
    signal.className = `signal ${health.publishing ? "receiving" : "idle"}`;
    // An encoder test before the show: its preview starts (and stops) with the signal.
    const wasPublishing = page.publishing;
    page.publishing = Boolean(health.publishing);
    if (page.status === "scheduled" && page.publishing !== wasPublishing) startPreview();
    const ingest = health.ingest || {};
    const has = (value) => value !== null && value !== undefined;
    $("h-bitrate").textContent = has(ingest.bitrateKbps) ? `${ingest.bitrateKbps} kbps` : "—";
    $("h-fps").textContent = has(ingest.fps) ? `${Math.round(ingest.fps * 10) / 10} fps` : "—";
    $("h-keyframe").textContent = has(ingest.keyframeIntervalSeconds) ? `${ingest.keyframeIntervalSeconds} s` : "—";
    $("h-resolution").textContent = ingest.resolution || (ingest.width ? `${ingest.width}x${ingest.height}` : "—");
    const renditions = health.renditions || [];
    $("h-renditions").textContent = renditions.length ? renditions.map((r) => r.name).join(", ") : "—";
    alerts.clear();
    (health.alerts || []).forEach((alert) => alerts.set(alert.code, alert));
    showAlerts();
  }
  setInterval(pollHealth, 3000);

  const QUALITY_WORDS = { low: "Low (360p)", medium: "Medium (720p)", high: "High (1080p)" };
  function showCap() {
    const cap = page.qualityCap;
    $("cap-now").textContent = cap
      ? `Fans get at most ${QUALITY_WORDS[cap] || cap}` +
        (page.qualityCapAutomatic ? ", set automatically because the transcoder fell behind; it lifts when it keeps up." : ".")
      : `No cap: fans get up to ${QUALITY_WORDS[page.maxQuality] || page.maxQuality}, the show's highest quality.`;
    $("cap").value = cap || page.maxQuality;
  }
  showCap();

  $("cap-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const result = await api("POST", `${base}/adapt-quality`, { maxQuality: $("cap").value });
    if (!result.ok) return problem(errorText(result));
    page.qualityCap = result.data.qualityCap;
    page.qualityCapAutomatic = false; // a person's choice clears the automatic marker
    showCap();
  });

  // --- Chat and moderation -------------------------------------------------------------------------
  const messages = $("messages");
  const modNote = (text) => ($("mod-note").textContent = text);

  async function moderate(request, done) {
    const result = await request();
    modNote(result.ok ? done : errorText(result));
    return result.ok;
  }

  function modButton(label, title, onClick) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "link";
    button.textContent = label;
    button.title = title;
    button.addEventListener("click", onClick);
    return button;
  }

  function renderMessage(message) {
    const item = document.createElement("li");
    item.dataset.id = String(message.id);
    const when = document.createElement("time");
    when.className = "muted small";
    const sent = new Date(message.createdAt);
    if (!isNaN(sent)) when.textContent = sent.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) + " ";
    const who = document.createElement("b");
    who.textContent = message.user.username; // textContent: chat is text, never HTML
    const text = document.createElement("span");
    text.textContent = " " + message.message;
    item.append(when, who);
    if (message.badge) {
      const badge = document.createElement("span");
      badge.className = `badge role-${message.badge}`;
      badge.textContent = message.badge;
      item.append(" ", badge);
    }
    item.append(text);
    const tools = document.createElement("span");
    tools.className = "mod-tools";
    const name = message.user.username;
    tools.append(
      modButton("delete", "Delete this message", () =>
        moderate(() => api("DELETE", `${base}/chat/${message.id}`), "Message deleted.")
      )
    );
    if (message.badge !== "artist" && message.badge !== "staff") {
      tools.append(
        modButton("time out", `Silence ${name} for 10 minutes`, () =>
          moderate(
            () => api("POST", `${base}/chat/bans`, { userId: message.user.id, durationSeconds: 600 }),
            `${name} is timed out for 10 minutes.`
          )
        ),
        modButton("ban", `Ban ${name} from this show`, async () => {
          const ok = await confirmAction({
            title: `Ban ${name}?`,
            message: `${name} leaves the show and cannot chat or come back to it.`,
            confirm: "Ban",
          });
          if (ok) moderate(() => api("POST", `${base}/chat/bans`, { userId: message.user.id }), `${name} is banned.`);
        }),
        modButton("make moderator", `Let ${name} moderate this show's chat`, async () => {
          if (await moderate(() => api("POST", `${base}/chat/moderators`, { userId: message.user.id }), `${name} is now a moderator.`))
            loadModerators();
        })
      );
    }
    item.append(tools);
    messages.appendChild(item);
    while (messages.children.length > 300) messages.removeChild(messages.firstChild);
    messages.scrollTop = messages.scrollHeight;
  }

  function systemLine(text) {
    const item = document.createElement("li");
    item.className = "system";
    item.textContent = text;
    messages.appendChild(item);
  }

  async function loadHistory() {
    const result = await api("GET", `${base}/chat?limit=50`);
    if (!result.ok) return;
    messages.textContent = "";
    result.data.results.slice().reverse().forEach(renderMessage);
  }

  async function loadChatSettings() {
    const result = await api("GET", `${base}/chat/settings`);
    if (!result.ok) return;
    showSlowMode(result.data.slowModeSeconds);
    $("terms").value = result.data.blockedTerms.join("\n");
  }

  function showSlowMode(seconds) {
    $("slow-mode-now").textContent = seconds ? `slow mode: ${seconds} s` : "";
    const select = $("slow");
    if (![...select.options].some((o) => o.value === String(seconds))) select.add(new Option(`${seconds} s`, String(seconds)));
    select.value = String(seconds || 0);
  }

  async function loadModerators() {
    const result = await api("GET", `${base}/chat/moderators`);
    if (!result.ok) return;
    const list = $("moderators");
    list.textContent = "";
    if (!result.data.results.length) {
      const none = document.createElement("li");
      none.className = "muted";
      none.textContent = "None yet.";
      list.appendChild(none);
    }
    result.data.results.forEach((moderator) => {
      const item = document.createElement("li");
      item.textContent = moderator.username + " ";
      item.appendChild(
        modButton("remove", `${moderator.username} stops moderating`, async () => {
          if (await moderate(() => api("DELETE", `${base}/chat/moderators/${moderator.id}`), `${moderator.username} no longer moderates.`))
            loadModerators();
        })
      );
      list.appendChild(item);
    });
  }

  $("slow-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const seconds = Number($("slow").value);
    moderate(
      () => api("PATCH", `${base}/chat/settings`, { slowModeSeconds: seconds }),
      seconds ? `Slow mode: one message every ${seconds} s.` : "Slow mode is off."
    );
  });

  $("terms-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const terms = $("terms").value.split("\n").map((t) => t.trim()).filter(Boolean);
    moderate(() => api("PATCH", `${base}/chat/settings`, { blockedTerms: terms }), "Blocked words saved.");
  });

  // --- The room over the WebSocket --------------------------------------------------------------
  let liveRoom = null;
  const send = (event, data) => liveRoom && liveRoom.send(event, data);

  const handlers = {
    joinedStream(data) {
      showViewers(data.viewerCount);
      showSlowMode(data.slowModeSeconds);
      if (data.status) showStatus(data.status);
    },
    viewerCountUpdate(data) {
      showViewers(data.viewerCount);
    },
    newChatMessage: renderMessage,
    chatMessageDeleted(data) {
      const item = messages.querySelector(`li[data-id="${CSS.escape(String(data.messageId))}"]`);
      if (item) item.remove();
    },
    chatSettingsUpdate(data) {
      showSlowMode(data.slowModeSeconds);
    },
    systemMessage(data) {
      systemLine(data.message);
    },
    streamUpdate(data) {
      if ("qualityCap" in data && data.qualityCap !== page.qualityCap) {
        page.qualityCap = data.qualityCap;
        showCap();
      }
      if (data.maxQuality) page.maxQuality = data.maxQuality;
      if (data.startedAt) page.startedAt = data.startedAt;
      if (data.status) showStatus(data.status);
    },
    streamAlert(data) {
      alerts.set(data.code, data);
      showAlerts();
    },
    moderationApplied() {},
    error(data) {
      modNote(data.message);
    },
  };


  $("chat-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = $("chat-input");
    const text = input.value.trim();
    if (!text) return;
    send("sendChatMessage", { streamId: page.streamId, message: text, clientMessageId: String(Date.now()) });
    input.value = "";
  });

  liveRoom = window.Livestage.room(page.streamId, handlers);
  loadHistory();
  loadChatSettings();
  loadModerators();
  seedChart();
  pollHealth();
  startPreview();
})();
