// The Agora player of the watch page: joins the stream's Agora channel as audience with the bundle from
// /api/livestreams/{id}/playback ({type: "agora", appId, channel, uid, token, expiresAt}) and plays the
// host's (the encoder's) video and audio in the player's place. Agora's Web SDK (agora-rtc-sdk-ng, from
// npm) is loaded before this file as window.AgoraRTC.
(function () {
  "use strict";
  window.Livestage = window.Livestage || {};

  // play(bundle, {container, message, expiring}) -> {renew(bundle), stop()}
  window.Livestage.agoraPlayer = async function play(bundle, { container, message, expiring }) {
    const client = AgoraRTC.createClient({ mode: "live", codec: "vp8", role: "audience" });
    const screen = document.createElement("div");
    screen.className = "agora-video";
    screen.dataset.testid = "agora-video";
    container.appendChild(screen);

    client.on("user-published", async (user, mediaType) => {
      await client.subscribe(user, mediaType);
      if (mediaType === "video") {
        message("");
        user.videoTrack.play(screen, { fit: "contain" });
      } else if (mediaType === "audio") {
        user.audioTrack.play();
      }
    });
    client.on("user-unpublished", (_user, mediaType) => {
      if (mediaType === "video") message("Waiting for the artist's video…");
    });
    // The token lasts PLAYBACK_TOKEN_TTL_SECONDS: the page asks for a new one (and access again) in time.
    client.on("token-privilege-will-expire", expiring);
    client.on("connection-state-change", (state) => {
      if (state === "RECONNECTING") message("Reconnecting…");
    });

    message("Waiting for the artist's video…");
    await client.join(bundle.appId, bundle.channel, bundle.token, bundle.uid || null);
    return {
      renew: (fresh) => client.renewToken(fresh.token),
      stop: async () => {
        await client.leave();
        screen.remove();
      },
    };
  };
})();
