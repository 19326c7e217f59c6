// A show's analytics, drawn with Chart.js from GET /api/livestreams/{id}/analytics (refreshed while live).
(function () {
  "use strict";
  const page = JSON.parse(document.getElementById("page-data").textContent);
  const { api } = window.Livestage;
  const $ = (id) => document.getElementById(id);
  const ACCENT = "#ff3d71";
  const PALETTE = ["#ff3d71", "#8ab4ff", "#6a4cff", "#2e7d32", "#f9a825", "#00acc1", "#9aa0aa", "#e64a19"];
  const charts = {};
  if (window.Chart) {
    Chart.defaults.color = "#9aa0aa";
    Chart.defaults.borderColor = "#2a2e38";
  }

  function draw(id, type, labels, data, options = {}) {
    if (!window.Chart) return;
    // An empty chart says so in words (the box shows "Nothing measured yet").
    $(id).parentElement.toggleAttribute("data-empty", !data.some((value) => value));
    const dataset = {
      data,
      borderColor: type === "line" ? ACCENT : undefined,
      backgroundColor: type === "line" ? "rgba(255,61,113,.2)" : type === "bar" ? ACCENT : PALETTE,
      fill: type === "line",
      pointRadius: data.length < 3 ? 3 : 0, // a lone minute is a dot, not an invisible line
    };
    if (charts[id]) {
      charts[id].data.labels = labels;
      charts[id].data.datasets[0].data = data;
      charts[id].update();
      return;
    }
    charts[id] = new Chart($(id), {
      type,
      data: { labels, datasets: [dataset] },
      options: {
        animation: false,
        maintainAspectRatio: false,
        plugins: { legend: { display: type === "doughnut", position: "bottom" } },
        scales: type === "doughnut" ? {} : { y: { beginAtZero: true, ...(options.y || {}) }, x: { ticks: { maxTicksLimit: 8 } } },
      },
    });
  }

  const minute = (iso) => new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  function duration(seconds) {
    const s = Math.round(seconds || 0);
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    return h ? `${h} h ${m} min` : m ? `${m} min ${s % 60} s` : `${s} s`;
  }
  function format(value, kind, data) {
    if (value === null || value === undefined) return "—";
    if (kind === "duration") return duration(value);
    if (kind === "ms") return `${(value / 1000).toFixed(2)} s`;
    if (kind === "percent") return `${(value * 100).toFixed(2)} %`;
    if (kind === "money") return `${value} ${String(data.totals.currency || "").toUpperCase()}`;
    return String(value);
  }

  function show(data) {
    document.querySelectorAll("[data-total]").forEach((element) => {
      element.textContent = format(data.totals[element.dataset.total], element.dataset.format, data);
    });
    document.querySelectorAll("[data-qoe]").forEach((element) => {
      element.textContent = format(data.qoe[element.dataset.qoe], element.dataset.format, data);
    });
    const labels = data.series.map((point) => minute(point.time));
    draw("chart-viewers", "line", labels, data.series.map((p) => p.concurrentViewers), { y: { ticks: { precision: 0 } } });
    draw("chart-joins", "bar", labels, data.series.map((p) => p.joins), { y: { ticks: { precision: 0 } } });
    draw("chart-chat", "bar", labels, data.series.map((p) => p.chatMessages), { y: { ticks: { precision: 0 } } });
    draw(
      "chart-retention",
      "line",
      data.retention.live.map((p) => `${p.minute} min`),
      data.retention.live.map((p) => Math.round(p.share * 1000) / 10),
      { y: { max: 100, ticks: { callback: (v) => `${v} %` } } }
    );
    draw("chart-countries", "bar", data.geography.map((g) => g.country), data.geography.map((g) => g.viewers), { y: { ticks: { precision: 0 } } });
    draw("chart-devices", "doughnut", data.devices.deviceClass.map((d) => d.name), data.devices.deviceClass.map((d) => d.viewers));
    draw(
      "chart-renditions",
      "doughnut",
      data.renditions.map((r) => r.rendition),
      data.renditions.map((r) => Math.round((r.share || 0) * 1000) / 10)
    );
    const state = $("analytics-state");
    if (!data.series.length) state.textContent = "No minute has been counted yet: figures appear a minute after viewers join.";
    else if (data.status === "live") state.textContent = "Live: these figures refresh every 30 seconds.";
    else state.textContent = `From ${new Date(data.from).toLocaleString()} to ${new Date(data.to).toLocaleString()}.`;
  }

  async function load() {
    const result = await api("GET", `/api/livestreams/${page.streamId}/analytics?interval=minute`);
    if (!result.ok) {
      $("analytics-state").textContent = (result.data.error && result.data.error.message) || "The analytics could not be read.";
      return;
    }
    show(result.data);
    window.Livestage.analytics = result.data; // for the browser tests
  }

  load();
  if (page.status === "live") setInterval(load, 30000);
})();
