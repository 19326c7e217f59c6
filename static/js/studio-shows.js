// My shows: cancel and delete, each after a confirmation that says what it does (a cancellation refunds).
(function () {
  "use strict";
  const { api, confirmAction, errorText } = window.Livestage;
  const problem = document.getElementById("shows-error");

  document.querySelectorAll(".show-row").forEach((row) => {
    const id = row.dataset.streamId;
    row.querySelectorAll("button[data-action]").forEach((button) => {
      button.addEventListener("click", async () => {
        const title = button.dataset.title;
        let ok;
        if (button.dataset.action === "cancel") {
          const refunds = Number(button.dataset.refundable || 0);
          ok = await confirmAction({
            title: `Cancel “${title}”?`,
            message:
              (refunds
                ? `${refunds} ticket${refunds === 1 ? "" : "s"} will be refunded in full. `
                : "No tickets were sold, so nobody is refunded. ") +
              "Fans can no longer watch or buy, and this cannot be undone.",
            confirm: "Cancel the show",
          });
          if (!ok) return;
          const result = await api("POST", `/api/livestreams/${id}/cancel`);
          if (!result.ok) return (problem.textContent = errorText(result));
        } else {
          ok = await confirmAction({
            title: `Delete “${title}”?`,
            message: "The show disappears from Livestage for good. This cannot be undone.",
            confirm: "Delete the show",
          });
          if (!ok) return;
          const result = await api("DELETE", `/api/livestreams/${id}`);
          if (!result.ok) return (problem.textContent = errorText(result));
        }
        window.location.reload();
      });
    });
  });
})();
