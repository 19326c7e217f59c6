// The show form: create (also a duplicate) or edit through the REST API; each error of the API's
// `error.fields` is shown next to its field, the others above the button.
(function () {
  "use strict";
  const { api, errorText } = window.Livestage;
  const page = JSON.parse(document.getElementById("page-data").textContent);
  const form = document.getElementById("show-form");
  const formError = document.getElementById("form-error");
  const field = (name) => form.elements.namedItem(name);

  // Local date and time for <input type=datetime-local>, in the artist's own time zone.
  function localInput(iso) {
    if (!iso) return "";
    const when = new Date(iso);
    const pad = (n) => String(n).padStart(2, "0");
    return `${when.getFullYear()}-${pad(when.getMonth() + 1)}-${pad(when.getDate())}T${pad(when.getHours())}:${pad(when.getMinutes())}`;
  }
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  document.getElementById("tz-note").textContent = zone ? `(your time, ${zone})` : "(your time)";

  function fill(values) {
    for (const [name, value] of Object.entries(values)) {
      if (name === "streamSettings") {
        for (const [key, inner] of Object.entries(value)) if (field(`streamSettings.${key}`)) field(`streamSettings.${key}`).value = inner;
        continue;
      }
      const input = field(name);
      if (!input) continue;
      if (input.type === "checkbox") input.checked = Boolean(value);
      else if (name === "scheduledStartTime") input.value = localInput(value);
      else if (name === "currency") input.value = (value || "").toUpperCase();
      else input.value = value === null || value === undefined ? "" : value;
    }
  }

  // The request body: the API's names and types. Disabled (frozen) fields are never sent.
  function read() {
    const body = {};
    const settings = {};
    for (const input of form.querySelectorAll("input[name], select[name], textarea[name]")) {
      if (input.disabled || input.name === "csrfmiddlewaretoken") continue;
      const name = input.name;
      let value;
      if (input.type === "checkbox") value = input.checked;
      else if (name === "scheduledStartTime") {
        const when = new Date(input.value);
        value = input.value && !isNaN(when) ? when.toISOString() : null;
      } else if (name === "maxViewers") value = input.value.trim() === "" ? null : Number(input.value);
      else if (name === "streamSettings.bitrate" || name === "streamSettings.fps")
        value = input.value.trim() === "" ? null : Number(input.value);
      else if (name === "ticketPrice") value = input.value.trim() === "" ? "0" : input.value.trim();
      else value = input.value.trim();
      if (name.startsWith("streamSettings.")) settings[name.split(".")[1]] = value;
      else body[name] = value;
    }
    body.streamSettings = settings;
    return body;
  }

  fill(page.values);
  const initial = read();

  function clearErrors() {
    formError.textContent = "";
    form.querySelectorAll(".field-error").forEach((element) => (element.textContent = ""));
    form.querySelectorAll("[aria-invalid]").forEach((element) => element.removeAttribute("aria-invalid"));
  }

  // {"title": ["..."], "streamSettings": {"bitrate": ["..."]}} -> next to each field; returns what had no field.
  function showFieldErrors(fields, prefix) {
    const unplaced = [];
    let first = null;
    for (const [name, messages] of Object.entries(fields || {})) {
      const path = prefix ? `${prefix}.${name}` : name;
      if (messages && !Array.isArray(messages) && typeof messages === "object") {
        unplaced.push(...showFieldErrors(messages, path));
        continue;
      }
      const slot = form.querySelector(`[data-error-for="${CSS.escape(path)}"]`);
      const text = (messages || []).join(" ");
      if (!slot) {
        unplaced.push(text);
        continue;
      }
      slot.textContent = text;
      const input = field(path);
      if (input && input.setAttribute) {
        input.setAttribute("aria-invalid", "true");
        first = first || input;
      }
    }
    if (first) first.focus();
    return unplaced;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors();
    let body = read();
    if (body.scheduledStartTime === null && !field("scheduledStartTime").disabled) {
      document.querySelector('[data-error-for="scheduledStartTime"]').textContent = "Choose when the show starts.";
      field("scheduledStartTime").focus();
      return;
    }
    if (page.mode === "edit") {
      // Only what changed: an unchanged start time in the past stays valid, frozen fields stay untouched.
      const changed = {};
      for (const [name, value] of Object.entries(body)) {
        if (JSON.stringify(value) !== JSON.stringify(initial[name])) changed[name] = value;
      }
      body = changed;
    }
    const save = form.querySelector("button[type=submit]");
    save.disabled = true;
    const result =
      page.mode === "edit"
        ? await api("PATCH", `/api/livestreams/${page.streamId}`, body)
        : await api("POST", "/api/livestreams", body);
    save.disabled = false;
    if (result.ok) {
      window.location.href = `/studio/${result.data.id}/`;
      return;
    }
    const error = result.data && result.data.error;
    const unplaced = showFieldErrors(error && error.fields);
    if (!error || !error.fields || unplaced.length) formError.textContent = unplaced.join(" ") || errorText(result);
    else formError.textContent = "Please correct the marked fields.";
  });
})();
