// The artist dashboard: lifecycle buttons, stream key, health and revenue, through the REST API.
(function () {
  "use strict";
  const { api } = window.Livestage;
  function show(row, value) {
    const detail = row.nextElementSibling;
    detail.hidden = false;
    detail.querySelector("[data-role=detail]").textContent =
      typeof value === "string" ? value : JSON.stringify(value, null, 2);
  }

  document.querySelectorAll("tr[data-stream-id]").forEach((row) => {
    const id = row.dataset.streamId;
    row.querySelectorAll("button[data-action]").forEach((button) => {
      button.addEventListener("click", async () => {
        const action = button.dataset.action;
        if (action === "key") {
          const result = await api("GET", `/api/livestreams/${id}`);
          show(row, result.ok ? `Stream key: ${result.data.streamKey}` : result.data);
        } else if (action === "health" || action === "revenue") {
          const result = await api("GET", `/api/livestreams/${id}/${action}`);
          show(row, result.data);
        } else {
          const result = await api("POST", `/api/livestreams/${id}/${action}`);
          if (result.ok) window.location.reload();
          else show(row, result.data.error ? result.data.error.message : result.data);
        }
      });
    });
  });

  const form = document.getElementById("new-stream");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const values = new FormData(form);
    const price = values.get("ticketPrice");
    const body = {
      title: values.get("title"),
      type: values.get("type"),
      scheduledStartTime: new Date(values.get("scheduledStartTime")).toISOString(),
      isRecordingEnabled: values.get("isRecordingEnabled") === "on",
      isPayPerView: Boolean(price && Number(price) > 0),
    };
    if (price) body.ticketPrice = price;
    if (values.get("maxViewers")) body.maxViewers = Number(values.get("maxViewers"));
    const result = await api("POST", "/api/livestreams", body);
    if (result.ok) window.location.reload();
    else document.getElementById("new-stream-error").textContent =
      result.data.error ? `${result.data.error.message} ${JSON.stringify(result.data.error.fields || {})}` : "Error";
  });
})();
