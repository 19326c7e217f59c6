// The revenue page's charts (net by day, per currency) and, on a show's analytics page, that show's revenue
// by day from GET /api/livestreams/{id}/revenue.
(function () {
  "use strict";
  const ACCENT = "#ff3d71";
  if (!window.Chart) return;
  Chart.defaults.color = "#9aa0aa";
  Chart.defaults.borderColor = "#2a2e38";

  function draw(canvas, days) {
    canvas.parentElement.toggleAttribute("data-empty", !days.length);
    new Chart(canvas, {
      type: "bar",
      data: {
        labels: days.map((day) => day.date),
        datasets: [{ label: "Net", data: days.map((day) => Number(day.net)), backgroundColor: ACCENT }],
      },
      options: { responsive: true, maintainAspectRatio: false, plugins: { legend: { display: false } } },
    });
  }

  const data = document.getElementById("page-data");
  const page = data ? JSON.parse(data.textContent) : {};
  (page.currencies || []).forEach((summary) => {
    const canvas = document.querySelector(`canvas[data-currency="${summary.currency}"]`);
    if (canvas) draw(canvas, summary.by_day);
  });

  const show = document.getElementById("chart-revenue");
  if (show && page.streamId) {
    window.Livestage.api("GET", `/api/livestreams/${page.streamId}/revenue`).then((result) => {
      if (result.ok) draw(show, result.data.byDay || []);
    });
  }
})();
