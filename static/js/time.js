// Times in the viewer's own time zone, and countdowns to a show's start. The server writes UTC into
// <time class="local-time" datetime="..."> and <span class="countdown" data-start="...">.
(function () {
  "use strict";
  const format = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  document.querySelectorAll("time.local-time").forEach((element) => {
    const when = new Date(element.getAttribute("datetime"));
    if (!isNaN(when)) element.textContent = format.format(when);
  });

  function left(ms) {
    if (ms <= 0) return "starting soon";
    const s = Math.floor(ms / 1000);
    const d = Math.floor(s / 86400);
    const h = Math.floor((s % 86400) / 3600);
    const m = Math.floor((s % 3600) / 60);
    if (d) return `in ${d} d ${h} h`;
    if (h) return `in ${h} h ${m} min`;
    return `in ${m} min ${s % 60} s`;
  }

  // A thumbnail that cannot be had (a live show whose picture is not there yet) goes, rather than show
  // a broken image.
  document.querySelectorAll("img.thumb").forEach((image) => {
    if (image.complete && !image.naturalWidth) image.remove();
    else image.addEventListener("error", () => image.remove());
  });

  // The live shows' viewer counts, refreshed now and then.
  const counts = document.querySelectorAll("[data-viewers]");
  async function refreshCounts() {
    try {
      const response = await fetch("/streams/live-counts.json", { credentials: "same-origin" });
      if (!response.ok) return;
      const data = await response.json();
      counts.forEach((element) => {
        if (element.dataset.viewers in data) element.textContent = data[element.dataset.viewers];
      });
    } catch (_) {
      /* offline for a moment: the next refresh tries again */
    }
  }
  if (counts.length) setInterval(refreshCounts, 15000);

  const countdowns = document.querySelectorAll(".countdown[data-start]");
  function tick() {
    countdowns.forEach((element) => {
      const when = new Date(element.dataset.start);
      if (!isNaN(when)) element.textContent = left(when - Date.now());
    });
  }
  if (countdowns.length) {
    tick();
    setInterval(tick, 1000);
  }
})();
