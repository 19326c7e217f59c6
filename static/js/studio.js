// What the studio's pages share: a confirmation dialog (keyboard-friendly <dialog>), an API error in words,
// copying to the clipboard.
(function () {
  "use strict";

  // Resolves true when the person confirms; Escape or "Keep it" resolves false.
  function confirmAction({ title, message, confirm }) {
    const dialog = document.getElementById("confirm-dialog");
    document.getElementById("confirm-title").textContent = title;
    document.getElementById("confirm-message").textContent = message;
    document.getElementById("confirm-yes").textContent = confirm || "Confirm";
    return new Promise((resolve) => {
      dialog.addEventListener("close", () => resolve(dialog.returnValue === "confirm"), { once: true });
      dialog.returnValue = "";
      dialog.showModal();
    });
  }

  // The API's {"error": {"message"}} as a sentence; never raw JSON.
  function errorText(result, fallback) {
    const error = result && result.data && result.data.error;
    return (error && error.message) || fallback || "Something went wrong. Please try again.";
  }

  async function copyText(text) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch (_) {
      // Older browsers, or no clipboard permission: copy through a selected, hidden field.
      const field = document.createElement("textarea");
      field.value = text;
      field.setAttribute("readonly", "");
      field.style.position = "fixed";
      field.style.opacity = "0";
      document.body.appendChild(field);
      field.select();
      const done = document.execCommand("copy");
      field.remove();
      return done;
    }
  }

  Object.assign(window.Livestage, { confirmAction, errorText, copyText });
})();
