// The pages' one way to call the REST API with the session: JSON in and out, CSRF header on writes.
(function () {
  "use strict";
  function cookie(name) {
    const match = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return match ? decodeURIComponent(match[1]) : "";
  }

  async function api(method, path, body) {
    const response = await fetch(path, {
      method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": cookie("csrftoken") },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = response.status === 204 ? {} : await response.json().catch(() => ({}));
    return { ok: response.ok, status: response.status, data };
  }

  // A stream's live room over /ws/livestream/: joins it on every (re)connection, hands each frame to
  // handlers[event](data), and reconnects with a growing delay (back to short once joinedStream arrives).
  // Returns send(event, data), false while the socket is not open.
  function room(streamId, handlers) {
    let socket = null;
    let retry = 0;
    const send = (event, data) => {
      if (!socket || socket.readyState !== WebSocket.OPEN) return false;
      socket.send(JSON.stringify({ event, data }));
      return true;
    };
    function connect() {
      const scheme = location.protocol === "https:" ? "wss" : "ws";
      socket = new WebSocket(`${scheme}://${location.host}/ws/livestream/`);
      socket.addEventListener("open", () => send("joinStream", { streamId }));
      socket.addEventListener("message", (event) => {
        let frame;
        try {
          frame = JSON.parse(event.data);
        } catch (_) {
          return;
        }
        if (frame.event === "joinedStream") retry = 0;
        const handler = handlers[frame.event];
        if (handler) handler(frame.data || {});
      });
      socket.addEventListener("close", () => {
        retry = Math.min(retry + 1, 6);
        setTimeout(connect, 500 * 2 ** retry);
      });
    }
    connect();
    return { send };
  }

  window.Livestage = { api, room };
})();
