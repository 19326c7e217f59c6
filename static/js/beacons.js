// Playback beacons (QoE) of the watch page: what the viewer's player saw, reported every few seconds
// over the WebSocket (reportQuality) and once more through navigator.sendBeacon when the page goes away.
// Field names and meanings are the platform's report contract (README, "Playback beacons").
(function () {
  "use strict";

  const now = () => performance.now();

  function uuid4() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }

  // createBeacons({video, streamId, reportSeconds, send(data) -> bool, beaconUrl})
  function createBeacons(options) {
    const { video, streamId } = options;
    let sessionId = null;
    let hls = null;
    let playIntentAt = null; // when playback was asked for (autoplay: when the page started it)
    let startupTimeMs = null; // play intent to first frame; reported once
    let startupSent = false;
    let firstFrame = false;
    let playingSince = null; // watch time runs while frames advance
    let stalledSince = null; // a rebuffer in progress (not a seek, not the startup)
    let seeking = false;
    let rendition = "";
    let bitrateKbps = null;
    let error = "";
    let errorSent = "";
    let exitSent = false;
    let droppedSeen = 0;
    // Deltas since the last report that went out.
    let watchMs = 0;
    let rebufferCount = 0;
    let rebufferMs = 0;

    function intent() {
      if (playIntentAt === null) playIntentAt = now();
    }

    function frameShown() {
      if (firstFrame || playIntentAt === null) return;
      firstFrame = true;
      startupTimeMs = Math.round(now() - playIntentAt);
    }

    function playingStarts() {
      frameShown();
      if (stalledSince !== null) {
        rebufferMs += now() - stalledSince;
        stalledSince = null;
      }
      if (playingSince === null) playingSince = now();
    }

    function playingStops() {
      if (playingSince !== null) watchMs += now() - playingSince;
      playingSince = null;
    }

    video.addEventListener("play", intent);
    video.addEventListener("playing", playingStarts);
    video.addEventListener("timeupdate", () => {
      if (video.currentTime > 0 && !video.paused) {
        frameShown();
        if (playingSince === null && stalledSince === null && !seeking) playingSince = now();
      }
    });
    video.addEventListener("waiting", () => {
      playingStops();
      // Waiting before the first frame is the startup; waiting because of a seek is the viewer's doing.
      if (firstFrame && !seeking && stalledSince === null) {
        stalledSince = now();
        rebufferCount += 1;
      }
    });
    video.addEventListener("pause", playingStops);
    video.addEventListener("ended", playingStops);
    video.addEventListener("seeking", () => {
      seeking = true;
      playingStops();
      stalledSince = null;
    });
    video.addEventListener("seeked", () => {
      seeking = false;
      if (!video.paused) playingSince = now();
    });
    video.addEventListener("error", () => {
      if (video.error) error = `mediaError${video.error.code}`;
    });
    video.addEventListener("loadedmetadata", () => {
      if (!hls && video.videoHeight) rendition = `${video.videoHeight}p`;
    });

    function attachHls(instance) {
      hls = instance;
      instance.on(Hls.Events.LEVEL_SWITCHED, (_e, data) => {
        const level = instance.levels[data.level];
        if (!level) return;
        rendition = level.height ? `${level.height}p` : level.name || "";
        bitrateKbps = level.bitrate ? Math.round(level.bitrate / 1000) : null;
      });
      instance.on(Hls.Events.ERROR, (_e, data) => {
        if (data.fatal) error = String(data.details || data.type || "fatal").slice(0, 64);
      });
    }

    function detachHls() {
      hls = null;
    }

    function setReplay({ height, bitrateKbps: kbps }) {
      if (height) rendition = `${height}p`;
      bitrateKbps = kbps || null;
    }

    function latencyMs() {
      if (!hls) return null;
      let seconds = Number.isFinite(hls.latency) && hls.latency > 0 ? hls.latency : null;
      if (seconds === null && Number.isFinite(hls.liveSyncPosition)) seconds = hls.liveSyncPosition - video.currentTime;
      return seconds !== null && seconds >= 0 ? Math.round(seconds * 1000) : null;
    }

    // The report since the last one; `final` when the page goes away. Keys with no value are left out
    // (a null is a wrong value to the server, not a missing one).
    function build(final) {
      if (playIntentAt === null) return null;
      if (playingSince !== null) {
        watchMs += now() - playingSince;
        playingSince = now();
      }
      if (stalledSince !== null) {
        rebufferMs += now() - stalledSince;
        stalledSince = now();
      }
      const report = {
        streamId,
        watchMs: Math.round(watchMs),
        rebufferCount,
        rebufferMs: Math.round(rebufferMs),
      };
      if (sessionId) report.sessionId = sessionId;
      if (startupTimeMs !== null && !startupSent) report.startupTimeMs = startupTimeMs;
      if (rendition) report.rendition = rendition;
      if (bitrateKbps) report.bitrateKbps = bitrateKbps;
      if (hls && Number.isFinite(hls.bandwidthEstimate) && hls.bandwidthEstimate > 0) {
        report.bandwidthKbps = Math.round(hls.bandwidthEstimate / 1000);
      }
      const latency = latencyMs();
      if (latency !== null) report.latencyMs = latency;
      if (video.getVideoPlaybackQuality) {
        const dropped = video.getVideoPlaybackQuality().droppedVideoFrames || 0;
        report.droppedFrames = Math.max(0, dropped - droppedSeen);
        report._dropped = dropped;
      }
      const ratio = window.devicePixelRatio || 1;
      if (video.clientWidth) report.playerWidth = Math.round(video.clientWidth * ratio);
      if (video.clientHeight) report.playerHeight = Math.round(video.clientHeight * ratio);
      if (error && error !== errorSent) report.error = error;
      if (final && !firstFrame && !exitSent) report.exitBeforeVideoStart = true;
      return report;
    }

    // The deltas went out: start counting again.
    function sent(report) {
      watchMs = 0;
      rebufferCount = 0;
      rebufferMs = 0;
      if ("startupTimeMs" in report) startupSent = true;
      if ("_dropped" in report) droppedSeen = report._dropped;
      if (report.error) errorSent = report.error;
      if (report.exitBeforeVideoStart) exitSent = true;
    }

    function strip(report) {
      const copy = { ...report };
      delete copy._dropped;
      return copy;
    }

    function report() {
      const data = build(false);
      if (data && options.send(strip(data))) sent(data);
    }

    // Without the server's session id (joinedStream), the player names its session itself: the server
    // keeps such a session as beacon-only.
    function ensureSession() {
      if (!sessionId) sessionId = uuid4();
      return sessionId;
    }

    function finalReport() {
      if (playIntentAt === null || !navigator.sendBeacon) return;
      ensureSession();
      const data = build(true);
      // pagehide after visibilitychange: nothing new since the beacon that just went out.
      const news = ["startupTimeMs", "error", "exitBeforeVideoStart"].some((key) => key in data);
      if (!news && !data.watchMs && !data.rebufferCount && !data.droppedFrames) return;
      const body = strip(data);
      delete body.streamId; // in the URL
      const blob = new Blob([JSON.stringify(body)], { type: "application/json" });
      if (navigator.sendBeacon(options.beaconUrl, blob)) sent(data);
    }

    setInterval(report, Math.max(1, options.reportSeconds || 10) * 1000);
    window.addEventListener("pagehide", finalReport);
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "hidden") finalReport();
    });

    return {
      intent,
      attachHls,
      detachHls,
      setReplay,
      report,
      ensureSession,
      setSession(id) {
        sessionId = id;
      },
      get sessionId() {
        return sessionId;
      },
    };
  }

  window.Livestage = Object.assign(window.Livestage || {}, { createBeacons });
})();
