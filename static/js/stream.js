// The viewer page: HLS playback through hls.js, and the live room (chat, viewer count, status) over
// the platform's WebSocket protocol ({"event": NAME, "data": {...}} frames). The player's beacons
// (beacons.js) report over the same socket; qualityAdvice from the server caps hls.js.
(function () {
  "use strict";
  const page = JSON.parse(document.getElementById("page-data").textContent);
  const $ = (id) => document.getElementById(id);
  // Elements a page may not have (the replay page has no live count, chat box or quality menu).
  const setText = (id, text) => {
    const element = $(id);
    if (element) element.textContent = text;
  };
  const video = $("video");
  const messages = $("messages");
  let hls = null;
  let agora = null; // the Agora player (agora-player.js), for a stream on Agora
  let liveRoom = null; // Livestage.room: the live room's socket, once the page joins
  let retryPlayback = null;
  let advice = null; // the server's qualityAdvice in force ({maxRendition, reason}), or null
  let viewerChoseLevel = false; // a quality picked in the menu overrides the advice

  const { api, createBeacons } = window.Livestage;
  const beacons = createBeacons({
    video,
    streamId: page.streamId,
    reportSeconds: page.reportSeconds,
    send: (data) => send("reportQuality", data),
    beaconUrl: `/api/livestreams/${page.streamId}/quality-reports`,
  });

  // The viewer session's id comes with joinedStream; the player waits for it a moment (CMCD tags the
  // segment requests with it), then goes on with an id of its own rather than delay the video.
  let sessionKnown;
  const sessionReady = new Promise((resolve) => (sessionKnown = resolve));
  setTimeout(() => sessionKnown(), 3000);


  function showVideoMessage(text) {
    $("video-message").textContent = text;
    $("video-message").hidden = !text;
  }

  // --- Playback -------------------------------------------------------------------------------
  async function startPlayback() {
    // Live plays by itself: the page asking to play is the viewer's intent. A replay waits for the
    // viewer to press play (beacons.js counts the "play" event).
    if (page.status === "live") beacons.intent();
    if (page.status === "ended") return playReplay();
    if (page.status !== "live") {
      if (page.status === "scheduled") {
        const at = new Date(page.scheduledStartTime);
        showVideoMessage(`The show starts ${at.toLocaleString([], { dateStyle: "medium", timeStyle: "short" })}. This page starts playing by itself.`);
      } else {
        showVideoMessage(page.isPayPerView ? "This show was cancelled. Every ticket is refunded in full." : "This show was cancelled.");
      }
      return;
    }
    const result = await api("GET", `/api/livestreams/${page.streamId}/playback`);
    if (!result.ok) {
      showVideoMessage((result.data.error && result.data.error.message) || "Playback is not available.");
      return;
    }
    showVideoMessage("");
    if (result.data.type === "agora") return playAgora(result.data);
    await sessionReady;
    beacons.ensureSession();
    // Token-authenticated CDNs (Wowza on Fastly) protect segments with a cookie set on the playlist.
    attach(result.data.url, Boolean(result.data.withCredentials));
    refreshLater(result.data.expiresAt);
  }

  // Playback URLs are signed for a few minutes (PLAYBACK_TOKEN_TTL_SECONDS). Halfway there the page asks
  // /playback again, which checks access again (a refunded viewer stops here), reads the fresh
  // signatures from the new master playlist, and every later playlist and segment request of hls.js
  // goes out with them (xhrSetup), so playback never stalls on an expired URL.
  const SIGNED = /\/hls\/[^/]+\/\d+(\/[^/]+\/[^/]+\/)/; // /hls/<token>/<expires>/<stream>/<rendition>/
  const freshPrefix = {}; // "/<stream>/<rendition>/" -> "/hls/<token>/<expires>"
  let refreshTimer = null;

  function freshUrl(url) {
    const match = SIGNED.exec(url);
    const prefix = match && freshPrefix[match[1]];
    return prefix ? url.replace(match[0], prefix + match[1]) : url;
  }

  function refreshLater(expiresAt, delayMs) {
    clearTimeout(refreshTimer);
    const half = (new Date(expiresAt).getTime() - Date.now()) / 2;
    refreshTimer = setTimeout(refreshPlayback, delayMs || Math.max(2000, half));
  }

  async function refreshPlayback() {
    if ((!hls && !agora) || page.status !== "live") return;
    const result = await api("GET", `/api/livestreams/${page.streamId}/playback`);
    if (result.status === 402 || result.status === 403) return accessEnded(result.data.error);
    if (!result.ok) return refreshLater(null, 15000);
    if (agora) {
      await agora.renew(result.data).catch(() => {});
      return refreshLater(result.data.expiresAt);
    }
    try {
      const master = await fetch(result.data.url, { credentials: "same-origin" });
      if (!master.ok) return refreshLater(null, 15000);
      for (const line of (await master.text()).split("\n")) {
        const match = SIGNED.exec(line);
        if (match) freshPrefix[match[1]] = match[0].slice(0, match[0].length - match[1].length);
      }
    } catch (_) {
      return refreshLater(null, 15000);
    }
    refreshLater(result.data.expiresAt);
  }

  // A stream on Agora: the Agora Web SDK joins its channel as audience (agora-player.js).
  async function playAgora(bundle) {
    if (agora) return refreshLater(bundle.expiresAt);
    video.hidden = true;
    try {
      agora = await window.Livestage.agoraPlayer(bundle, {
        container: video.parentElement,
        message: showVideoMessage,
        expiring: () => refreshPlayback(),
      });
    } catch (_) {
      showVideoMessage("Waiting for the artist's video…");
      clearTimeout(retryPlayback);
      retryPlayback = setTimeout(startPlayback, 4000);
      return;
    }
    refreshLater(bundle.expiresAt);
  }

  function agoraStop() {
    if (!agora) return;
    agora.stop();
    agora = null;
    video.hidden = false;
  }

  function accessEnded(error) {
    clearTimeout(refreshTimer);
    clearTimeout(retryPlayback);
    agoraStop();
    if (hls) {
      hls.destroy();
      hls = null;
      beacons.detachHls();
    }
    video.removeAttribute("src");
    video.load();
    showVideoMessage((error && error.message) || "You can no longer watch this stream.");
  }

  function attach(url, withCredentials) {
    if (hls) {
      hls.destroy();
      beacons.detachHls();
    }
    if (window.Hls && Hls.isSupported()) {
      // CMCD (CTA-5004) puts the session id on every playlist and segment request, so the media
      // server's log and the beacons name the same viewer.
      hls = new Hls({
        lowLatencyMode: true,
        // Play no further behind the live edge than hls.js's target (3 segments): the seconds a start
        // or a stall puts the viewer behind are made up by playing faster (up to 1.5x when more than
        // about 1.5 s behind, 1.05x when close; the pitch is kept), instead of being kept for good.
        maxLiveSyncPlaybackRate: 1.5,
        cmcd: { sessionId: beacons.sessionId, contentId: page.streamId },
        xhrSetup(xhr, url) {
          const fresh = freshUrl(url);
          if (fresh !== url) xhr.open("GET", fresh, true);
          if (withCredentials) xhr.withCredentials = true;
        },
      });
      beacons.attachHls(hls);
      hls.loadSource(url);
      hls.attachMedia(video);
      hls.on(Hls.Events.MANIFEST_PARSED, (_e, data) => {
        const select = $("quality");
        if (!select) return;
        select.length = 1;
        data.levels.forEach((level, index) => select.add(new Option(`${level.height}p`, String(index))));
        viewerChoseLevel = false;
        applyAdvice();
        video.play().catch(() => {});
      });
      hls.on(Hls.Events.ERROR, (_e, data) => {
        if (!data.fatal) return;
        // The video may not be up yet (the encoder just connected) or may have dropped: ask again soon.
        showVideoMessage("Waiting for the artist's video…");
        clearTimeout(retryPlayback);
        retryPlayback = setTimeout(startPlayback, 4000);
      });
    } else {
      video.src = url; // Safari plays HLS natively
    }
  }

  if ($("quality")) $("quality").addEventListener("change", (e) => {
    const level = Number(e.target.value);
    viewerChoseLevel = level !== -1;
    if (hls) hls.currentLevel = level;
    applyAdvice();
  });

  // The highest level at or below the advised rendition's height (the lowest when none is).
  function cappedLevel(levels, maxRendition) {
    const height = parseInt(maxRendition, 10);
    let best = -1;
    levels.forEach((level, index) => {
      if (level.height <= height && (best === -1 || level.height > levels[best].height)) best = index;
    });
    if (best !== -1) return best;
    return levels.reduce((low, level, index) => (level.height < levels[low].height ? index : low), 0);
  }

  function applyAdvice() {
    const note = $("quality-note");
    if (!hls || !hls.levels || !hls.levels.length) return;
    if (!advice || viewerChoseLevel) {
      hls.autoLevelCapping = -1;
      note.textContent = "";
      return;
    }
    const level = cappedLevel(hls.levels, advice.maxRendition);
    hls.autoLevelCapping = level;
    note.textContent = `Limited to ${hls.levels[level].height}p for smoother playback`;
  }

  async function playReplay() {
    const result = await api("GET", `/api/livestreams/${page.streamId}/recordings`);
    const list = (result.ok && (result.data.results || result.data)) || [];
    const ready = list.filter((r) => r.status === "ready" && r.url);
    const box = $("recordings");
    box.textContent = "";
    if (!ready.length) {
      showVideoMessage(list.length ? "The replay is being prepared." : "The show has ended.");
      return;
    }
    showVideoMessage("");
    agoraStop();
    if (hls) {
      // The show ended while it played live: the replay is a plain <video> source.
      hls.destroy();
      hls = null;
      beacons.detachHls();
    }
    const seconds = ready[0].durationSeconds;
    beacons.setReplay({
      height: ready[0].height,
      bitrateKbps: ready[0].sizeBytes && seconds ? Math.round((ready[0].sizeBytes * 8) / seconds / 1000) : null,
    });
    // A replay a media system stored as HLS (IVS, Agora's Cloud Recording) plays through hls.js where the
    // browser has no HLS of its own; an MP4 is a plain source.
    const replayIsHls = new URL(ready[0].url, location.href).pathname.endsWith(".m3u8");
    if (replayIsHls && window.Hls && Hls.isSupported()) {
      hls = new Hls();
      hls.loadSource(ready[0].url);
      hls.attachMedia(video);
    } else {
      video.src = ready[0].url;
    }
    if (ready[0].thumbnailUrl) video.poster = ready[0].thumbnailUrl;
    const heading = document.createElement("h3");
    heading.textContent = `Replay · ${Math.round(ready[0].durationSeconds || 0)} s`;
    box.appendChild(heading);
  }

  // --- The live room --------------------------------------------------------------------------
  function send(event, data) {
    return liveRoom ? liveRoom.send(event, data) : false;
  }

  function renderMessage(message) {
    const item = document.createElement("li");
    item.dataset.id = String(message.id);
    const when = document.createElement("time");
    when.className = "muted small";
    const sent = new Date(message.createdAt);
    if (page.status === "ended") {
      const start = new Date(page.startedAt || page.scheduledStartTime).getTime();
      when.textContent = clock((sent.getTime() - start) / 1000) + " ";
    } else if (!isNaN(sent)) {
      when.textContent = sent.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) + " ";
    }
    item.appendChild(when);
    const who = document.createElement("b");
    who.textContent = message.user.username; // textContent: chat is text, never HTML
    if (message.badge) {
      const badge = document.createElement("span");
      badge.className = `badge role-${message.badge}`;
      badge.textContent = message.badge;
      item.appendChild(who);
      item.appendChild(document.createTextNode(" "));
      item.appendChild(badge);
    }
    const text = document.createElement("span");
    text.textContent = " " + message.message;
    if (!message.badge) item.append(who);
    item.append(text);
    if (page.canModerate) {
      const remove = document.createElement("button");
      remove.className = "link";
      remove.textContent = "delete";
      remove.title = "Delete this message";
      remove.addEventListener("click", () => api("DELETE", `/api/livestreams/${page.streamId}/chat/${message.id}`));
      item.appendChild(remove);
    }
    messages.appendChild(item);
    while (messages.children.length > 300) messages.removeChild(messages.firstChild);
    messages.scrollTop = messages.scrollHeight;
  }

  // Slow mode comes with joinedStream and changes with chatSettingsUpdate (streamUpdate never carries it).
  function showSlowMode(seconds) {
    setText("slow-mode", seconds ? `slow mode: ${seconds}s` : "");
  }

  function systemLine(text) {
    const item = document.createElement("li");
    item.className = "system";
    item.textContent = text;
    messages.appendChild(item);
  }

  const handlers = {
    joinedStream(data) {
      if (data.sessionId) beacons.setSession(data.sessionId);
      sessionKnown();
      setText("viewer-count", data.viewerCount);
      showSlowMode(data.slowModeSeconds);
    },
    qualityAdvice(data) {
      advice = data.maxRendition ? data : null;
      applyAdvice();
    },
    chatSettingsUpdate(data) {
      showSlowMode(data.slowModeSeconds);
    },
    viewerCountUpdate(data) {
      setText("viewer-count", data.viewerCount);
    },
    newChatMessage(message) {
      if (page.status !== "ended") renderMessage(message);
    },
    chatMessageDeleted(data) {
      const item = messages.querySelector(`li[data-id="${CSS.escape(String(data.messageId))}"]`);
      if (item) item.remove();
    },
    systemMessage(data) {
      systemLine(data.message);
    },
    streamUpdate(data) {
      const changed = data.status && data.status !== page.status;
      if (data.status) {
        page.status = data.status;
        $("status").textContent = data.status;
        $("status").className = `badge ${data.status}`;
      }
      if (data.title) $("title").textContent = data.title;
      if (changed || "qualityCap" in data) startPlayback();
    },
    leftStream(data) {
      // Sent out of the room by the server: the ticket was refunded, a ban, a cancellation (the error
      // before this frame says which); the video stops too.
      if (!data.reason) return;
      accessEnded({ message: "You can no longer watch this stream." });
      if ($("chat-form")) $("chat-form").hidden = true;
    },
    error(data) {
      setText("chat-error", data.message);
      setTimeout(() => setText("chat-error", ""), 5000);
    },
  };

  async function loadHistory() {
    const result = await api("GET", `/api/livestreams/${page.streamId}/chat?limit=50`);
    if (!result.ok) return;
    const list = result.data.results || result.data;
    messages.textContent = "";
    list.slice().reverse().forEach(renderMessage);
  }


  if ($("chat-form")) $("chat-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = $("chat-input");
    const text = input.value.trim();
    if (!text) return;
    send("sendChatMessage", { streamId: page.streamId, message: text, clientMessageId: String(Date.now()) });
    input.value = "";
  });

  // For the browser tests and a curious developer's console.
  window.Livestage.player = { hls: () => hls, beacons };

  // --- The chat replay ------------------------------------------------------------------------
  // A replay shows the show's chat beside the video: each message appears when the video reaches the
  // moment it was sent (its time since the show started), and seeking back takes them away again.
  let replayChat = [];
  let replayShown = 0;

  async function loadReplayChat() {
    const all = [];
    let before = null;
    for (let pages = 0; pages < 50; pages++) {
      const query = before ? `&before=${before}` : "";
      const result = await api("GET", `/api/livestreams/${page.streamId}/chat?limit=100${query}`);
      if (!result.ok) break;
      all.push(...result.data.results);
      before = result.data.nextBefore;
      if (!before) break;
    }
    const start = new Date(page.startedAt || page.scheduledStartTime).getTime();
    replayChat = all
      .map((message) => ({ message, at: (new Date(message.createdAt).getTime() - start) / 1000 }))
      .sort((a, b) => a.at - b.at || a.message.id - b.message.id);
    replayShown = 0;
    messages.textContent = "";
    showReplayChat();
  }

  function showReplayChat() {
    const now = video.currentTime || 0;
    if (replayShown && replayChat[replayShown - 1].at > now) {
      messages.textContent = ""; // sought back: start over
      replayShown = 0;
    }
    while (replayShown < replayChat.length && replayChat[replayShown].at <= now) {
      renderMessage(replayChat[replayShown].message);
      replayShown += 1;
    }
  }

  function clock(seconds) {
    const total = Math.max(0, Math.floor(seconds));
    const minutes = Math.floor(total / 60);
    return `${minutes}:${String(total % 60).padStart(2, "0")}`;
  }

  if (page.hasAccess) {
    liveRoom = window.Livestage.room(page.streamId, handlers);
    if (page.status === "ended") {
      loadReplayChat();
      video.addEventListener("timeupdate", showReplayChat);
      video.addEventListener("seeked", showReplayChat);
    } else {
      loadHistory();
    }
    startPlayback();
  } else if (page.accessReason === "cancelled") {
    showVideoMessage(page.isPayPerView ? "This show was cancelled. Every ticket is refunded in full." : "This show was cancelled.");
  } else {
    showVideoMessage("A ticket is needed to watch this show.");
  }
})();
