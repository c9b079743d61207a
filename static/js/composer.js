// The composer (issue 12): each photo is uploaded the moment it is picked, dropped or pasted
// (a progress bar each, a retry on failure), so the form refers to uploads and nothing is lost
// to a refusal or a reload (sessionStorage, per workspace). What the page knows (photo count,
// balance, quota, the model's input limit, the prompt's length) blocks Compose with the reason
// beside it; the prompt linter warns without blocking. Without JavaScript the plain multipart
// form still works.
(function () {
  "use strict";
  // Words come from Django's JavaScript catalogue (jsi18n/, loaded first by base.html); without
  // it the page still works, in English.
  const gettext = window.gettext || ((s) => s);
  const ngettext = window.ngettext || ((s, p, n) => (n === 1 ? s : p));
  const interpolate = window.interpolate || ((fmt, obj) => fmt.replace(/%\((\w+)\)s/g, (_, k) => String(obj[k])));
  const fmt = (text, values) => interpolate(text, values, true);
  const lang = document.documentElement.lang || "en";
  const form = document.getElementById("composer");
  if (!form) return;
  document.documentElement.classList.add("js");
  const state = JSON.parse(document.getElementById("composer-state").textContent);
  const models = JSON.parse(document.getElementById("model-limits").textContent);
  const presets = state.presets;
  const input = form.querySelector('input[type="file"][name="images"]');
  const list = document.getElementById("previews");
  const template = document.getElementById("preview-template");
  const counter = document.getElementById("photo-count");
  const prompt = form.querySelector('textarea[name="prompt"]');
  const promptCount = document.getElementById("prompt-count");
  const presetSelect = form.querySelector('select[name="preset"]');
  const modelSelect = form.querySelector('select[name="model"]');
  const sizeSelect = form.querySelector('select[name="image_size"]');
  const countSelect = form.querySelector('select[name="num_images"]');
  const submit = document.getElementById("compose-submit");
  const blockersList = document.getElementById("blockers");
  const lintList = document.getElementById("lint");
  const estimate = document.getElementById("estimate");
  const moveStatus = document.getElementById("move-status");
  const offer = document.getElementById("prompt-offer");
  const presetInputs = document.getElementById("preset-inputs");
  const example = document.getElementById("preset-example");
  const csrf = form.querySelector('input[name="csrfmiddlewaretoken"]').value;
  const sourceInput = form.querySelector('input[name="from"]');
  const offset = sourceInput ? 1 : 0;
  const storageKey = `composer:${state.workspace}:${sourceInput ? sourceInput.value : ""}`;
  const OPTION_NAMES = ["style", "model", "aspect_ratio", "image_size", "num_images"];
  // Model options, shown only for models that offer them (absent when no model does).
  const groundingBox = form.querySelector('input[name="grounding"]');
  const thinkingSelect = form.querySelector('select[name="thinking_level"]');
  let items = [];
  let nextKey = 1;
  let lastScaffold = "";
  let presetValues = {};
  let sending = false;

  // --- Storage ---------------------------------------------------------------------------
  function save() {
    const data = {
      items: items.filter((i) => i.id).map((i) => ({ id: i.id, name: i.name, thumb: i.thumb, role: i.role, bytes: i.bytes, reference: i.reference || "", markupOfId: markupTarget(i) ? markupTarget(i).id : null })),
      prompt: prompt.value,
      preset: presetSelect.value,
      options: Object.fromEntries(OPTION_NAMES.map((n) => [n, form.elements[n].value])),
      grounding: groundingBox ? groundingBox.checked : false,
      thinking: thinkingSelect ? thinkingSelect.value : "",
      presetValues,
      lastScaffold,
    };
    try { sessionStorage.setItem(storageKey, JSON.stringify(data)); } catch (e) { /* private mode: nothing kept */ }
  }

  function restore() {
    if (state.submitted) {
      // The server refused the submission and sent back what was chosen.
      items = state.chosen.map((u) => ({ ...u, key: nextKey++, status: "done", progress: 100 }));
      // The mark-up links sent, by position (the source, if any, is position 1).
      const links = (state.chosen_markup || []).slice(offset);
      items.forEach((item, index) => {
        const target = links[index] ? items[links[index] - 1 - offset] : null;
        if (target && target !== item) item.markupOf = target.key;
      });
      try {
        const stored = JSON.parse(sessionStorage.getItem(storageKey) || "null");
        if (stored) { presetValues = stored.presetValues || {}; lastScaffold = stored.lastScaffold || ""; }
      } catch (e) { /* ignore */ }
      return;
    }
    let stored = null;
    try { stored = JSON.parse(sessionStorage.getItem(storageKey) || "null"); } catch (e) { stored = null; }
    // Kept until the composition's page confirms it was made (detail.js clears it there).
    if (!stored) return;
    items = (stored.items || []).map((u) => ({ ...u, key: nextKey++, status: "done", progress: 100 }));
    items.forEach((item) => {
      const target = item.markupOfId ? items.find((other) => other.id === item.markupOfId) : null;
      item.markupOf = target ? target.key : null;
    });
    prompt.value = stored.prompt || "";
    if (presets[stored.preset]) presetSelect.value = stored.preset;
    Object.entries(stored.options || {}).forEach(([name, value]) => {
      const el = form.elements[name];
      if (el && Array.from(el.options).some((o) => o.value === value)) el.value = value;
    });
    // Model options; limitOptions() then clears those the restored model lacks.
    if (groundingBox) groundingBox.checked = Boolean(stored.grounding);
    if (thinkingSelect && Array.from(thinkingSelect.options).some((o) => o.value === stored.thinking)) thinkingSelect.value = stored.thinking;
    presetValues = stored.presetValues || {};
    lastScaffold = stored.lastScaffold || "";
  }

  // --- Uploads ---------------------------------------------------------------------------
  function send(item) {
    item.status = "uploading";
    item.progress = 0;
    item.error = "";
    if (item.file.size > state.max_upload_bytes) {
      item.status = "failed";
      item.error = fmt(gettext("%(name)s is over %(mb)s MB; choose a smaller photo."), { name: item.name, mb: Math.round(state.max_upload_bytes / 1048576) });
      item.retryable = false;
      render();
      return;
    }
    const body = new FormData();
    body.append("file", item.file, item.name);
    // XMLHttpRequest rather than fetch: only it reports upload progress in every browser.
    const xhr = new XMLHttpRequest();
    item.xhr = xhr;
    xhr.open("POST", state.urls.upload);
    xhr.setRequestHeader("X-CSRFToken", csrf);
    xhr.upload.addEventListener("progress", (event) => {
      if (!event.lengthComputable) return;
      item.progress = Math.round((event.loaded / event.total) * 100);
      const bar = list.querySelector(`li[data-key="${item.key}"] progress`);
      if (bar) bar.value = item.progress;
    });
    xhr.addEventListener("load", () => {
      // Sent on to another page (the sign-in page, when the session has ended)?
      const landed = xhr.responseURL ? new URL(xhr.responseURL).pathname : "";
      const redirected = Boolean(landed) && landed !== new URL(state.urls.upload, window.location.href).pathname;
      finish(item, xhr.status, xhr.responseText, { redirected, type: xhr.getResponseHeader("Content-Type") });
    });
    xhr.addEventListener("error", () => finish(item, 0, ""));
    xhr.send(body);
    render();
  }

  // Statuses a second try may get past: a dropped line (0), a timeout, a busy or broken
  // server. Any other 4xx is a refusal of this photo that no retry changes.
  function retryable(status) { return status === 0 || status === 408 || status === 429 || status >= 500; }

  function finish(item, status, text, answer) {
    item.xhr = null;
    if (!items.includes(item)) return; // removed while uploading
    const { redirected = false, type = "" } = answer || {};
    const json = /json/i.test(type || "");
    let data = {};
    try { data = json ? JSON.parse(text || "{}") : {}; } catch (e) { data = {}; }
    item.signedOut = false;
    if (status === 201 && json && !redirected) {
      Object.assign(item, { id: data.id, name: data.name || item.name, thumb: data.thumb, bytes: data.bytes, status: "done", progress: 100, file: null });
      if (item.localUrl) { URL.revokeObjectURL(item.localUrl); item.localUrl = null; }
    } else if (redirected || status === 401 || status === 403 || (status >= 200 && status < 300 && !json)) {
      // The session ended: the answer is the sign-in page (after a redirect), not ours.
      item.status = "failed";
      item.retryable = false;
      item.signedOut = true;
      item.error = gettext("You were signed out, so this photo was not uploaded. Sign in again: your draft is kept; then add this photo again.");
    } else {
      item.status = "failed";
      item.retryable = retryable(status);
      item.error = data.detail || data.error || (status === 0 ? gettext("The connection dropped before this photo was uploaded.") : fmt(gettext("The upload failed (%(status)s)."), { status }));
    }
    render();
  }

  function addFiles(fileList, at) {
    // Every file is sent: the server says why one is not a usable photo, beside that photo.
    const fresh = Array.from(fileList).map((file) => ({
      key: nextKey++, file, name: file.name || gettext("pasted image.png"), role: "", status: "uploading", progress: 0,
      localUrl: URL.createObjectURL(file),
    }));
    items.splice(at === undefined ? items.length : at, 0, ...fresh);
    fresh.forEach(send);
    render();
  }

  async function addResult(resultId, at) {
    const item = { key: nextKey++, name: gettext("Earlier result"), role: "", status: "uploading", progress: 50 };
    items.splice(at === undefined ? items.length : at, 0, item);
    render();
    const body = new FormData();
    body.append("result", resultId);
    try {
      const response = await fetch(state.urls.from_result, { method: "POST", body, headers: { "X-CSRFToken": csrf } });
      finish(item, response.status, await response.text(), { redirected: response.redirected, type: response.headers.get("Content-Type") });
    } catch (e) { finish(item, 0, ""); }
    if (item.status === "failed") item.result = resultId;
    render();
  }

  function removeItem(index) {
    const [item] = items.splice(index, 1);
    // A marked-up copy means nothing without its photo: it goes too.
    items.filter((other) => other.markupOf === item.key).forEach((other) => removeItem(items.indexOf(other)));
    if (item.xhr) item.xhr.abort();
    if (item.localUrl) URL.revokeObjectURL(item.localUrl);
    if (item.id && !item.reference) {
      // Not used by any composition yet: its files go (an input of one stays, the server says).
      const body = new FormData();
      fetch(state.urls.delete.replace("up_ID", item.id), { method: "POST", body, headers: { "X-CSRFToken": csrf } }).catch(() => {});
    }
    render();
  }

  function markupTarget(item) {
    return item.markupOf ? items.find((other) => other.key === item.markupOf) || null : null;
  }

  // --- Mark-up: arrows, boxes and notes drawn on a copy of a photo -----------------------
  // Pointer Events, so a mouse, a pen and a finger all draw; the dialog opens from a button
  // and closes with Escape or Cancel, and focus goes back to the button.
  const markup = (function () {
    const dialog = document.getElementById("markup-dialog");
    const canvas = document.getElementById("markup-canvas");
    const ctx = canvas.getContext("2d");
    const textInput = document.getElementById("markup-text");
    const status = document.getElementById("markup-status");
    const MAX_EDGE = 2048;
    const RED = "#e6141a";
    let photo = null;
    let source = null;
    let opener = null;
    let shapes = [];
    let drawing = null;

    function tool() { return dialog.querySelector('input[name="markup-tool"]:checked').value; }
    function scale() { return Math.max(canvas.width, canvas.height) / 1000; }
    function point(event) {
      const box = canvas.getBoundingClientRect();
      return { x: ((event.clientX - box.left) / box.width) * canvas.width, y: ((event.clientY - box.top) / box.height) * canvas.height };
    }

    function drawShape(shape) {
      const line = Math.max(3, 6 * scale());
      ctx.strokeStyle = RED;
      ctx.fillStyle = RED;
      ctx.lineWidth = line;
      ctx.lineCap = "round";
      ctx.lineJoin = "round";
      if (shape.kind === "box") {
        ctx.strokeRect(shape.x1, shape.y1, shape.x2 - shape.x1, shape.y2 - shape.y1);
      } else if (shape.kind === "arrow") {
        const angle = Math.atan2(shape.y2 - shape.y1, shape.x2 - shape.x1);
        const head = line * 4;
        ctx.beginPath();
        ctx.moveTo(shape.x1, shape.y1);
        ctx.lineTo(shape.x2, shape.y2);
        ctx.stroke();
        ctx.beginPath();
        ctx.moveTo(shape.x2, shape.y2);
        ctx.lineTo(shape.x2 - head * Math.cos(angle - 0.45), shape.y2 - head * Math.sin(angle - 0.45));
        ctx.lineTo(shape.x2 - head * Math.cos(angle + 0.45), shape.y2 - head * Math.sin(angle + 0.45));
        ctx.closePath();
        ctx.fill();
      } else if (shape.kind === "text") {
        const size = Math.round(28 * scale());
        ctx.font = `bold ${size}px system-ui, sans-serif`;
        ctx.textBaseline = "middle";
        // A white halo keeps the note readable on any photo.
        ctx.lineWidth = Math.max(3, size / 5);
        ctx.strokeStyle = "#fff";
        ctx.strokeText(shape.text, shape.x1, shape.y1);
        ctx.fillText(shape.text, shape.x1, shape.y1);
      }
    }

    function paint() {
      if (!photo) return;
      ctx.drawImage(photo, 0, 0, canvas.width, canvas.height);
      shapes.forEach(drawShape);
      if (drawing) drawShape(drawing);
      document.getElementById("markup-undo").disabled = !shapes.length;
      document.getElementById("markup-clear").disabled = !shapes.length;
      document.getElementById("markup-save").disabled = !shapes.length;
    }

    canvas.addEventListener("pointerdown", (event) => {
      if (!photo || event.button > 0) return;
      event.preventDefault();
      const at = point(event);
      if (tool() === "text") {
        const text = textInput.value.trim();
        if (!text) { status.textContent = "Type the note first, then tap where it goes."; textInput.focus(); return; }
        shapes.push({ kind: "text", text, x1: at.x, y1: at.y });
        status.textContent = `Note “${text}” added.`;
        paint();
        return;
      }
      canvas.setPointerCapture(event.pointerId);
      drawing = { kind: tool(), x1: at.x, y1: at.y, x2: at.x, y2: at.y };
    });
    canvas.addEventListener("pointermove", (event) => {
      if (!drawing) return;
      const at = point(event);
      drawing.x2 = at.x;
      drawing.y2 = at.y;
      paint();
    });
    function endStroke() {
      if (!drawing) return;
      const big = Math.hypot(drawing.x2 - drawing.x1, drawing.y2 - drawing.y1) > 8 * scale();
      if (big) { shapes.push(drawing); status.textContent = `${drawing.kind === "box" ? "Box" : "Arrow"} added.`; }
      drawing = null;
      paint();
    }
    canvas.addEventListener("pointerup", endStroke);
    canvas.addEventListener("pointercancel", () => { drawing = null; paint(); });

    function undo() { shapes.pop(); status.textContent = "Last mark removed."; paint(); }
    document.getElementById("markup-undo").addEventListener("click", undo);
    document.getElementById("markup-clear").addEventListener("click", () => { shapes = []; status.textContent = "All marks removed."; paint(); });
    dialog.addEventListener("keydown", (event) => {
      if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "z" && event.target !== textInput) { event.preventDefault(); undo(); }
    });
    document.getElementById("markup-cancel").addEventListener("click", () => dialog.close());
    dialog.addEventListener("close", () => {
      photo = null;
      drawing = null;
      if (opener && document.body.contains(opener)) opener.focus();
    });

    document.getElementById("markup-save").addEventListener("click", () => {
      if (!shapes.length || !source) return;
      const original = source;
      // toDataURL rather than toBlob: Chromium runs toBlob's encoding in idle time, which a
      // busy or hidden page may not give it for a long while.
      const encoded = atob(canvas.toDataURL("image/png").split(",")[1]);
      const bytes = new Uint8Array(encoded.length);
      for (let i = 0; i < encoded.length; i++) bytes[i] = encoded.charCodeAt(i);
      const base = original.name.replace(/\.[^.]+$/, "");
      const file = new File([bytes], `${base} (marked up).png`, { type: "image/png" });
      const item = { key: nextKey++, file, name: file.name, role: "", status: "uploading", progress: 0, localUrl: URL.createObjectURL(file), markupOf: original.key };
      items.push(item);
      dialog.close();
      send(item);
      render();
      moveStatus.textContent = `Added a marked-up copy of ${original.name} as image ${items.length + offset}.`;
    });

    function open(item, button) {
      source = item;
      opener = button;
      shapes = [];
      drawing = null;
      status.textContent = "Loading the photo…";
      document.getElementById("markup-which").textContent = `image ${items.indexOf(item) + 1 + offset}`;
      const image = new Image();
      image.onload = () => {
        const ratio = Math.min(1, MAX_EDGE / Math.max(image.naturalWidth, image.naturalHeight));
        canvas.width = Math.round(image.naturalWidth * ratio);
        canvas.height = Math.round(image.naturalHeight * ratio);
        photo = image;
        status.textContent = "Drag to draw; choose Note, type it, then tap where it goes.";
        paint();
      };
      image.onerror = () => { status.textContent = "The photo could not be loaded for mark-up."; };
      image.src = item.id ? state.urls.upload_image.replace("up_ID", item.id) : item.localUrl;
      dialog.showModal();
      paint();
    }
    return { open };
  })();

  // --- Rendering -------------------------------------------------------------------------
  function total() { return items.length + offset; }
  function model() { return models[modelSelect.value]; }
  function maxImages() { const m = model(); return Math.min(state.max_images, m ? m.max_images : state.max_images); }

  function effectiveRoles() {
    const defaults = (presets[presetSelect.value] || presets.none).default_roles[Math.min(total(), 14)] || [];
    const chosen = [""].slice(0, offset).concat(items.map((i) => i.role));
    return chosen.map((r, i) => r || defaults[i] || "other");
  }

  // Mid-sentence, a role is lower-cased, except in German, where nouns keep their capital.
  function roleLabel(role) {
    const label = state.roles[role] || role || gettext("Other");
    return lang.split("-")[0] === "de" ? label : label.toLocaleLowerCase(lang);
  }

  function render() {
    const roles = effectiveRoles();
    const presetLabel = presets[presetSelect.value].label;
    const focused = document.activeElement;
    const keep = focused && focused.closest && focused.closest("li.preview") ? { key: focused.closest("li").dataset.key, action: focused.dataset.action, role: focused.tagName === "SELECT" } : null;
    list.querySelectorAll("li").forEach((li) => li.remove());
    items.forEach((item, index) => {
      const position = index + 1 + offset;
      const node = template.content.firstElementChild.cloneNode(true);
      node.dataset.index = String(index);
      node.dataset.key = String(item.key);
      node.classList.toggle("failed", item.status === "failed");
      node.classList.toggle("uploading", item.status === "uploading");
      node.querySelector(".preview-index").textContent = fmt(gettext("Image %(position)s"), { position });
      const img = node.querySelector("img");
      img.src = item.thumb || item.localUrl || "";
      const words = { position, total: total(), preset: presetLabel, role: roleLabel(roles[position - 1]), name: item.name };
      img.alt = presetSelect.value === "none"
        ? fmt(gettext("Image %(position)s of %(total)s, role %(role)s: %(name)s"), words)
        : fmt(gettext("Image %(position)s of %(total)s for the %(preset)s preset, role %(role)s: %(name)s"), words);
      if (!img.getAttribute("src") || item.status === "failed") img.hidden = true;
      node.querySelector(".preview-name").textContent = item.name;
      const bar = node.querySelector("progress");
      bar.value = item.progress || 0;
      bar.hidden = item.status !== "uploading";
      bar.setAttribute("aria-label", fmt(gettext("Uploading %(name)s"), { name: item.name }));
      const error = node.querySelector(".preview-error");
      error.hidden = item.status !== "failed";
      error.textContent = item.error || "";
      if (item.signedOut) {
        const link = document.createElement("a");
        link.href = state.urls.sign_in;
        link.textContent = gettext("Sign in");
        error.append(" ", link);
      }
      node.querySelector('input[name="uploads"]').value = item.id || "";
      node.querySelector('input[name="references"]').value = item.reference || "";
      const target = markupTarget(item);
      const targetPosition = target ? items.indexOf(target) + 1 + offset : null;
      node.querySelector('input[name="markup_of"]').value = targetPosition ? String(targetPosition) : "";
      const markupNote = node.querySelector(".preview-markup");
      markupNote.hidden = !target;
      if (target) markupNote.textContent = `Mark-up of image ${targetPosition}`;
      node.querySelector(".preview-role").hidden = Boolean(target);
      const markupButton = node.querySelector('[data-action="markup"]');
      markupButton.hidden = Boolean(target) || item.status === "failed";
      markupButton.disabled = !(item.id || item.localUrl);
      markupButton.setAttribute("aria-label", `Mark up image ${position} (${item.name}): draw arrows, boxes and notes on a copy`);
      const select = node.querySelector("select");
      select.value = item.role || "";
      select.setAttribute("aria-label", fmt(gettext("Role of image %(position)s"), { position }));
      const auto = select.querySelector('option[value=""]');
      auto.textContent = fmt(gettext("Auto (%(role)s)"), { role: roleLabel(roles[position - 1]) });
      select.addEventListener("change", () => { item.role = select.value; render(); });
      const up = node.querySelector('[data-action="up"]');
      const down = node.querySelector('[data-action="down"]');
      up.disabled = index === 0;
      down.disabled = index === items.length - 1;
      up.setAttribute("aria-label", fmt(gettext("Move image %(position)s (%(name)s) earlier"), { position, name: item.name }));
      down.setAttribute("aria-label", fmt(gettext("Move image %(position)s (%(name)s) later"), { position, name: item.name }));
      const retry = node.querySelector('[data-action="retry"]');
      retry.hidden = !(item.status === "failed" && item.retryable && (item.file || item.result));
      retry.setAttribute("aria-label", fmt(gettext("Retry uploading %(name)s"), { name: item.name }));
      node.querySelector('[data-action="remove"]').setAttribute("aria-label", fmt(gettext("Remove image %(position)s (%(name)s)"), { position, name: item.name }));
      list.appendChild(node);
    });
    if (keep) {
      const li = list.querySelector(`li[data-key="${keep.key}"]`);
      if (li) {
        let target = keep.role ? li.querySelector("select") : li.querySelector(`[data-action="${keep.action}"]`);
        if (target && target.disabled) target = li.querySelector(`[data-action="${keep.action === "up" ? "down" : "up"}"]`);
        if (target && !target.disabled) target.focus();
      }
    }
    refreshScaffold();
    update();
  }

  function describeCount() {
    const n = total();
    let text = fmt(ngettext("%(n)s photo selected.", "%(n)s photos selected.", n), { n });
    if (n === 0) text = gettext("No photos yet.");
    const uploading = items.filter((i) => i.status === "uploading").length;
    if (uploading) text += " " + fmt(gettext("Uploading %(count)s…"), { count: uploading });
    if (n > 0 && n < state.min_images) text += " " + gettext("Add at least one more.");
    counter.textContent = text;
  }

  function price() {
    const m = model();
    const perImage = m ? Number(m.prices[sizeSelect.value] || 1) : 0;
    // Grounding holds one search on top of the images (searches made are charged, up to that).
    const search = m && m.grounding !== null && groundingBox && groundingBox.checked ? Number(m.grounding) : 0;
    return { perImage, search, cost: perImage * Number(countSelect.value) + search };
  }

  function blockers() {
    const reasons = [];
    const n = total();
    const m = model();
    const uploading = items.filter((i) => i.status === "uploading");
    const failed = items.filter((i) => i.status === "failed");
    if (uploading.length) reasons.push(fmt(ngettext("Wait for %(n)s photo to finish uploading.", "Wait for %(n)s photos to finish uploading.", uploading.length), { n: uploading.length }));
    failed.forEach((i) => reasons.push(fmt(i.retryable && (i.file || i.result) ? gettext("%(name)s could not be added: retry it or remove it.") : gettext("%(name)s could not be added: remove it."), { name: i.name })));
    if (n < state.min_images) reasons.push(fmt(gettext("Add at least %(min)s photos to combine (you have %(n)s)."), { min: state.min_images, n }));
    if (n > maxImages()) reasons.push(fmt(gettext("%(model)s takes at most %(max)s photos: remove %(extra)s."), { model: m ? m.name : gettext("This model"), max: maxImages(), extra: n - maxImages() }));
    const length = prompt.value.length;
    if (length > state.max_prompt) reasons.push(fmt(gettext("The prompt is %(length)s characters; the limit is %(limit)s. Shorten it by %(over)s."), { length: length.toLocaleString(lang), limit: state.max_prompt.toLocaleString(lang), over: (length - state.max_prompt).toLocaleString(lang) }));
    if (!prompt.value.trim() && presetSelect.value === "none") reasons.push(gettext("Describe how to combine the photos, or pick a preset."));
    if (m && !m.allowed) reasons.push(gettext("Your plan does not include this model."));
    else if (m && !m.image_sizes.includes(sizeSelect.value)) reasons.push(gettext("Your plan does not include this image size."));
    const { cost } = price();
    if (cost > state.balance) reasons.push(fmt(ngettext("This needs %(cost)s credit; the workspace has %(balance)s. Ask for fewer or smaller images, or add credits.", "This needs %(cost)s credits; the workspace has %(balance)s. Ask for fewer or smaller images, or add credits.", cost), { cost, balance: state.balance }));
    const wanted = Number(countSelect.value);
    if (wanted > state.daily_left) reasons.push(fmt(ngettext("You can make %(left)s more image today on this plan (%(limit)s a day); the count starts again at midnight UTC.", "You can make %(left)s more images today on this plan (%(limit)s a day); the count starts again at midnight UTC.", state.daily_left), { left: state.daily_left, limit: state.daily_limit }));
    else if (wanted > state.monthly_left) reasons.push(fmt(ngettext("This workspace has %(left)s image left this month.", "This workspace has %(left)s images left this month.", state.monthly_left), { left: state.monthly_left }));
    return reasons;
  }

  // --- The prompt linter (the same rules as compositions/prompt_lint.py) -----------------
  const IMAGE_REF = /\b(?:images?|img)\s*#?\s*(\d+)(?:\s*(?:to|-|–|and|&)\s*(\d+))?/gi;
  const ALL_REF = /\b(?:all|every|each|both)\b(?:\s+(?:of\s+the|the|\d+))?\s+(?:images?|photos?|pictures?)\b/i;
  const CHARACTER_ROLES = ["subject", "face"];
  const OBJECT_ROLES = ["product", "logo", "outfit", "other"];

  function lint() {
    const warnings = [];
    const text = prompt.value;
    const count = total();
    const mentioned = new Set();
    const missing = [];
    for (const match of text.matchAll(IMAGE_REF)) {
      const first = Number(match[1]);
      const last = Number(match[2] || first);
      for (let k = Math.min(first, last); k <= Math.max(first, last); k += 1) {
        mentioned.add(k);
        if ((k < 1 || k > count) && !missing.includes(k)) missing.push(k);
      }
    }
    missing.forEach((k) => warnings.push(fmt(ngettext("The prompt names image %(k)s, but there is %(count)s photo.", "The prompt names image %(k)s, but there are %(count)s photos.", count), { k, count })));
    // A marked-up copy is explained to the model by the server: it needs no mention, and it
    // is not another object to keep faithful.
    const markups = new Set(items.map((item, i) => (item.markupOf ? i + 1 + offset : 0)).filter(Boolean));
    const roles = effectiveRoles().map((role, i) => (markups.has(i + 1) ? "markup" : role));
    if (text.trim() && count && !ALL_REF.test(text)) {
      const lower = text.toLowerCase();
      roles.forEach((role, i) => {
        const position = i + 1;
        if (mentioned.has(position) || role === "markup") return;
        if (role !== "other" && new RegExp(`\\b${role}s?\\b`).test(lower)) return;
        warnings.push(fmt(gettext("Image %(position)s (%(role)s) is not mentioned in the prompt: say what to do with it, or remove it."), { position, role: roleLabel(role) }));
      });
    }
    state.placeholders.forEach((placeholder) => {
      const at = text.toLowerCase().indexOf(placeholder);
      if (at >= 0) warnings.push(fmt(gettext("The prompt still says “%(said)s”: replace it with your own words."), { said: text.slice(at, at + placeholder.length) }));
    });
    const m = model();
    const limits = (m && m.limits) || {};
    const characters = roles.filter((r) => CHARACTER_ROLES.includes(r)).length;
    const objects = roles.filter((r) => OBJECT_ROLES.includes(r)).length;
    if (limits.characters !== undefined && characters > limits.characters) warnings.push(fmt(gettext("%(model)s keeps at most %(limit)s people consistent; %(count)s photos are people (subject or face)."), { model: m.name, limit: limits.characters, count: characters }));
    if (limits.objects !== undefined && objects > limits.objects) warnings.push(fmt(gettext("%(model)s keeps at most %(limit)s objects faithful; %(count)s photos are objects (product, logo, outfit or other)."), { model: m.name, limit: limits.objects, count: objects }));
    if (state.offline && presets[presetSelect.value].offline_unsupported) warnings.push(fmt(gettext("The offline compositor cannot do “%(preset)s”: it will only show the photos side by side."), { preset: presets[presetSelect.value].label }));
    return warnings;
  }

  function fillList(ul, lines, className) {
    ul.replaceChildren(...lines.map((line) => { const li = document.createElement("li"); li.className = className; li.textContent = line; return li; }));
  }

  function update() {
    describeCount();
    const length = prompt.value.length;
    promptCount.textContent = length.toLocaleString(lang);
    promptCount.parentElement.classList.toggle("warn", length > state.max_prompt);
    const m = model();
    const { perImage, search, cost } = price();
    if (m && estimate) {
      const words = { cost, perImage, search, balance: state.balance };
      let text = search
        ? fmt(ngettext("This will use %(cost)s credit (%(perImage)s per image and %(search)s for one web search); balance %(balance)s.", "This will use %(cost)s credits (%(perImage)s per image and %(search)s for one web search); balance %(balance)s.", cost), words)
        : fmt(ngettext("This will use %(cost)s credit (%(perImage)s per image); balance %(balance)s.", "This will use %(cost)s credits (%(perImage)s per image); balance %(balance)s.", cost), words);
      if (!m.allowed) text = gettext("Your plan does not include this model.");
      else if (!m.image_sizes.includes(sizeSelect.value)) text = gettext("Your plan does not include this image size.");
      else if (cost > state.balance) text += " " + gettext("Not enough credits.");
      estimate.textContent = text;
      estimate.classList.toggle("warn", !m.allowed || cost > state.balance || !m.image_sizes.includes(sizeSelect.value));
    }
    const reasons = blockers();
    fillList(blockersList, reasons, "blocker");
    submit.disabled = reasons.length > 0 || sending;
    fillList(lintList, lint(), "lint-warning");
    save();
  }

  // --- Presets, their inputs and the prompt ----------------------------------------------
  function presetPrompt(name) {
    const preset = presets[name];
    const n = Math.max(total(), 2);
    let text = preset.scaffold;
    const values = presetValues[name] || {};
    if (preset.inputs) {
      const value = (field) => (values[field.name] !== undefined ? values[field.name] : field.default).trim();
      if (preset.inputs.required.every((r) => value(preset.inputs.fields.find((f) => f.name === r)))) {
        text = preset.inputs.template.replace(/\[\[(.*?)\]\]/g, (all, part) => {
          const names = Array.from(part.matchAll(/\{(\w+)\}/g)).map((x) => x[1]);
          return names.every((k) => { const f = preset.inputs.fields.find((ff) => ff.name === k); return f && value(f); }) ? part : "";
        });
        preset.inputs.fields.forEach((f) => { text = text.replaceAll(`{${f.name}}`, value(f)); });
      }
    }
    return text.replaceAll("{n}", String(n)).replaceAll("{last}", String(n)).replaceAll("{before_last}", String(n - 1));
  }

  function untouched() { return prompt.value.trim() === "" || prompt.value === lastScaffold; }

  function refreshScaffold() {
    // Keep the preset's prompt right as photos come and go, unless the person edited it.
    if (presetSelect.value !== "none" && untouched()) prompt.value = lastScaffold = presetPrompt(presetSelect.value);
  }

  function showOffer(html, actions) {
    offer.replaceChildren();
    const text = document.createElement("span");
    text.textContent = html;
    offer.appendChild(text);
    actions.forEach(([label, handler]) => {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "button small secondary";
      b.textContent = label;
      b.addEventListener("click", handler);
      offer.appendChild(b);
    });
    offer.hidden = false;
  }

  function hideOffer() { offer.hidden = true; offer.replaceChildren(); }

  function replacePrompt(name) {
    const old = prompt.value;
    prompt.value = lastScaffold = presetPrompt(name);
    showOffer(gettext("Prompt replaced with the preset's."), [[gettext("Undo"), () => { prompt.value = old; lastScaffold = ""; hideOffer(); update(); prompt.focus(); }]]);
    update();
  }

  function offerReplace(name) {
    if (name === "none") { hideOffer(); return; }
    if (untouched()) { prompt.value = lastScaffold = presetPrompt(name); hideOffer(); update(); return; }
    showOffer(fmt(gettext("Replace your prompt with the “%(preset)s” preset's?"), { preset: presets[name].label }), [
      [gettext("Replace prompt"), () => replacePrompt(name)],
      [gettext("Keep mine"), hideOffer],
    ]);
  }

  function renderPresetInputs() {
    const name = presetSelect.value;
    const preset = presets[name];
    presetInputs.replaceChildren();
    if (preset.inputs) {
      presetValues[name] = presetValues[name] || {};
      preset.inputs.fields.forEach((f) => {
        const wrap = document.createElement("div");
        wrap.className = "field preset-input";
        const label = document.createElement("label");
        const id = `preset-${name}-${f.name}`;
        label.htmlFor = id;
        label.textContent = f.label;
        let control;
        if (f.kind === "select") {
          control = document.createElement("select");
          f.choices.forEach((c) => { const o = document.createElement("option"); o.value = c; o.textContent = c; control.appendChild(o); });
        } else {
          control = document.createElement("input");
          control.type = "text";
          control.maxLength = 200;
        }
        control.id = id;
        control.value = presetValues[name][f.name] !== undefined ? presetValues[name][f.name] : f.default;
        control.addEventListener("input", () => {
          const wasUntouched = untouched();
          presetValues[name][f.name] = control.value;
          if (wasUntouched) { prompt.value = lastScaffold = presetPrompt(name); update(); } else offerReplace(name);
          save();
        });
        wrap.append(label, control);
        presetInputs.appendChild(wrap);
      });
    }
    const img = example.querySelector("img");
    if (preset.example) {
      img.src = preset.example;
      img.alt = fmt(gettext("Example result of the %(preset)s preset, made by the local compositor from sample photos"), { preset: preset.label });
      example.querySelector("figcaption").textContent = fmt(gettext("Example: %(preset)s"), { preset: preset.label });
      example.hidden = false;
    } else example.hidden = true;
  }

  // --- Events ----------------------------------------------------------------------------
  input.addEventListener("change", () => {
    addFiles(input.files);
    input.value = ""; // the files are uploaded on their own, not sent again with the form
  });

  function move(from, to) {
    if (to < 0 || to >= items.length) return;
    const [item] = items.splice(from, 1);
    items.splice(to, 0, item);
    render();
    moveStatus.textContent = fmt(gettext("%(name)s is now image %(position)s of %(total)s."), { name: item.name, position: to + 1 + offset, total: total() });
  }

  list.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-action]");
    if (!button) return;
    const index = Number(button.closest("li").dataset.index);
    const item = items[index];
    if (button.dataset.action === "up") move(index, index - 1);
    if (button.dataset.action === "down") move(index, index + 1);
    if (button.dataset.action === "remove") {
      const next = Math.min(index, items.length - 2);
      removeItem(index);
      const li = list.querySelectorAll("li")[next];
      (li ? li.querySelector('[data-action="remove"]') : input).focus();
    }
    if (button.dataset.action === "markup") markup.open(item, button);
    if (button.dataset.action === "retry") {
      if (item.file) send(item);
      else if (item.result) { items.splice(index, 1); addResult(item.result, index); }
    }
  });

  list.addEventListener("keydown", (event) => {
    // Alt + arrow keys move the photo whose control has focus; focus stays with it.
    if (!event.altKey || !["ArrowUp", "ArrowDown", "ArrowLeft", "ArrowRight"].includes(event.key)) return;
    const li = event.target.closest("li.preview");
    if (!li) return;
    event.preventDefault();
    const index = Number(li.dataset.index);
    move(index, event.key === "ArrowUp" || event.key === "ArrowLeft" ? index - 1 : index + 1);
  });

  // Drag and drop: reorder within the list; files and recent results anywhere on the page.
  let dragFrom = null;
  list.addEventListener("dragstart", (event) => {
    const li = event.target.closest("li.preview");
    if (li) { dragFrom = Number(li.dataset.index); li.classList.add("dragging"); }
  });
  list.addEventListener("dragend", () => { dragFrom = null; render(); });
  document.querySelectorAll(".recent-item").forEach((el) => {
    el.addEventListener("dragstart", (event) => {
      event.dataTransfer.setData("application/x-bananasite-result", el.dataset.result);
      event.dataTransfer.effectAllowed = "copy";
    });
  });
  document.querySelectorAll("[data-add-result]").forEach((b) => b.addEventListener("click", () => addResult(b.dataset.addResult)));
  // A saved reference from the library: its images join the photos with their roles, and
  // name the reference, so the server records its version (and refuses it if it lapsed).
  function addReference(referenceId) {
    const reference = (state.library || []).find((r) => r.id === referenceId);
    if (!reference) return;
    const count = reference.images.length;
    reference.images.forEach((image, n) => {
      items.push({
        key: nextKey++, id: image.id, thumb: image.thumb, bytes: image.bytes, role: image.role,
        name: count > 1 ? `${reference.name} (${n + 1}/${count})` : reference.name,
        reference: reference.id, status: "done", progress: 100,
      });
    });
    render();
  }
  document.querySelectorAll("[data-add-reference]").forEach((b) => b.addEventListener("click", () => {
    addReference(b.dataset.addReference);
    const picker = document.getElementById("library-picker");
    if (picker) picker.open = false;
  }));

  function dropTarget(event) {
    const li = event.target.closest && event.target.closest("li.preview");
    return li ? Number(li.dataset.index) : undefined;
  }
  document.addEventListener("dragover", (event) => {
    const types = Array.from(event.dataTransfer.types || []);
    if (dragFrom !== null || types.includes("Files") || types.includes("application/x-bananasite-result")) {
      event.preventDefault();
      document.body.classList.add("dropping");
    }
  });
  document.addEventListener("dragleave", (event) => { if (!event.relatedTarget) document.body.classList.remove("dropping"); });
  document.addEventListener("drop", (event) => {
    document.body.classList.remove("dropping");
    const at = dropTarget(event);
    if (dragFrom !== null) {
      event.preventDefault();
      if (at !== undefined) move(dragFrom, at);
      dragFrom = null;
      return;
    }
    const result = event.dataTransfer.getData("application/x-bananasite-result");
    if (result) { event.preventDefault(); addResult(result, at); return; }
    if (event.dataTransfer.files && event.dataTransfer.files.length) { event.preventDefault(); addFiles(event.dataTransfer.files, at); }
  });
  document.addEventListener("paste", (event) => {
    const files = Array.from((event.clipboardData && event.clipboardData.files) || []).filter((f) => f.type.startsWith("image/"));
    if (!files.length) return; // text pastes into the prompt as usual
    event.preventDefault();
    addFiles(files);
  });

  presetSelect.addEventListener("change", () => {
    renderPresetInputs();
    offerReplace(presetSelect.value);
    showConsent();
    render();
  });
  prompt.addEventListener("input", update);
  OPTION_NAMES.forEach((n) => form.elements[n].addEventListener("change", () => { limitOptions(); update(); }));
  if (groundingBox) groundingBox.addEventListener("change", update);
  if (thinkingSelect) thinkingSelect.addEventListener("change", update);

  // The consent statement only concerns presets with people; without JavaScript it stays shown.
  const consent = document.getElementById("consent-field");
  function showConsent() {
    if (!consent) return;
    const people = consent.dataset.peoplePresets.split(" ");
    consent.hidden = !people.includes(presetSelect.value);
    consent.querySelector('input[type="checkbox"]').required = !consent.hidden;
  }

  function limitOptions() {
    const m = model();
    if (!m) return;
    form.querySelectorAll('select[name="aspect_ratio"] option').forEach((o) => { o.disabled = !m.ratios.includes(o.value); });
    form.querySelectorAll('select[name="image_size"] option').forEach((o) => { o.disabled = !m.image_sizes.includes(o.value); });
    if (groundingBox) {
      const field = document.getElementById("grounding-field");
      field.hidden = m.grounding === null;
      if (field.hidden) groundingBox.checked = false;
      else {
        const credits = document.getElementById("search-credits");
        credits.textContent = m.grounding;
        credits.nextSibling.textContent = ngettext(" credit per search)", " credits per search)", m.grounding);
      }
    }
    if (thinkingSelect) {
      document.getElementById("thinking-field").hidden = !m.thinking_levels.length;
      Array.from(thinkingSelect.options).forEach((o) => { o.disabled = o.value !== "" && !m.thinking_levels.includes(o.value); });
      if (thinkingSelect.selectedOptions[0] && thinkingSelect.selectedOptions[0].disabled) thinkingSelect.value = "";
    }
    const box = document.getElementById("model-options");
    if (box) box.hidden = Array.from(box.children).every((c) => c.hidden);
  }

  form.addEventListener("submit", (event) => {
    const reasons = blockers();
    const box = consent && !consent.hidden ? consent.querySelector('input[type="checkbox"]') : null;
    if (reasons.length) { event.preventDefault(); update(); blockersList.focus(); return; }
    if (box && !box.checked) { event.preventDefault(); box.reportValidity(); return; }
    sending = true;
    save();
    submit.disabled = true;
    submit.textContent = gettext("Composing…");
  });
  // Coming back with the browser's Back button: the submission did not replace this page.
  window.addEventListener("pageshow", (event) => {
    if (!event.persisted) return;
    sending = false;
    submit.textContent = gettext("Compose");
    update();
  });

  restore();
  if (prompt.value && presetSelect.value !== "none" && !lastScaffold && !sourceInput) {
    // A refused page with the preset's own prompt keeps following the preset. "Use as input"
    // starts from the earlier composition's prompt: that is work to keep, so a new preset asks.
    if (prompt.value === presetPrompt(presetSelect.value)) lastScaffold = prompt.value;
  }
  blockersList.tabIndex = -1;
  renderPresetInputs();
  showConsent();
  limitOptions();
  render();
})();
