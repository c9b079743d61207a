// The region painter on a region edit's page: a canvas over the picture where a mouse, a pen
// or a finger (Pointer Events) paints the region to change with a brush, an eraser, a
// rectangle or a lasso, with undo. Strokes are kept as shapes in the picture's own pixels, so
// undo redraws them and the mask sent is exactly the picture's size whatever the screen.
// On submit the mask is drawn (white region on black), uploaded as a PNG through the composer's
// upload endpoint and named in the form. Without JavaScript the page asks for a mask file.
// What was painted is kept in sessionStorage (per source picture) when the form is sent, and
// painted again when the page comes back refused (or after signing in again); the composition's
// page forgets it once the edit is made (detail.js).
(function () {
  "use strict";
  const form = document.getElementById("region-form");
  const root = document.getElementById("painter");
  if (!form || !root) return;
  const width = Number(root.dataset.width);
  const height = Number(root.dataset.height);
  const image = document.getElementById("painter-image");
  const canvas = document.getElementById("painter-canvas");
  const tools = document.getElementById("painter-tools");
  const status = document.getElementById("painter-status");
  const errorLine = document.getElementById("region-error");
  const sizeInput = document.getElementById("brush-size");
  const maskField = form.querySelector('input[name="mask"]');
  const maskFile = document.getElementById("mask-file");
  const csrf = form.querySelector('input[name="csrfmiddlewaretoken"]').value;
  const promptField = form.querySelector('textarea[name="prompt"], input[name="prompt"]');
  const keptKey = `painter:${root.dataset.source}`;
  const ctx = canvas.getContext("2d");
  // The page's words, translated by the server (region.html).
  const T = JSON.parse(document.getElementById("painter-text").textContent);
  const ops = []; // {tool, size, points: [[x, y], ...]} in the picture's pixels
  let current = null;
  let submitting = false;

  canvas.hidden = false;
  tools.hidden = false;
  maskFile.hidden = true; // painting replaces the file; a refusal shows the page again
  const say = (text) => { status.textContent = text; };

  function mode() {
    const checked = form.querySelector('input[name="mode"]:checked');
    return checked ? checked.value : "edit";
  }
  function showMode() {
    form.querySelectorAll("[data-for-mode]").forEach((el) => { el.hidden = el.dataset.forMode !== mode(); });
    canvas.hidden = mode() !== "edit";
  }
  form.querySelectorAll('input[name="mode"]').forEach((r) => r.addEventListener("change", showMode));
  showMode();

  function tool() { return form.querySelector('input[name="tool"]:checked').value; }
  // The brush's size is a share of the picture's longer side, so it looks the same on any picture.
  function brushSize() { return Math.max(1, Math.round(Number(sizeInput.value) / 400 * Math.max(width, height))); }

  // Draw every shape onto a context whose units are the picture's pixels times `scale`.
  // For the overlay the region is yellow and the eraser cuts it out; for the mask the region is
  // white on black and the eraser paints black.
  function draw(target, scale, forMask) {
    const paint = forMask ? "#fff" : "#ffd400";
    for (const op of ops.concat(current ? [current] : [])) {
      const erase = op.tool === "eraser";
      target.globalCompositeOperation = erase && !forMask ? "destination-out" : "source-over";
      target.fillStyle = target.strokeStyle = erase ? "#000" : paint;
      const pts = op.points.map(([x, y]) => [x * scale, y * scale]);
      if (!pts.length) continue;
      target.beginPath();
      if (op.tool === "rect") {
        const [a, b] = [pts[0], pts[pts.length - 1]];
        target.rect(Math.min(a[0], b[0]), Math.min(a[1], b[1]), Math.abs(b[0] - a[0]), Math.abs(b[1] - a[1]));
        target.fill();
      } else if (op.tool === "lasso") {
        target.moveTo(pts[0][0], pts[0][1]);
        pts.slice(1).forEach(([x, y]) => target.lineTo(x, y));
        target.closePath();
        if (op === current) { target.lineWidth = 2; target.stroke(); } else { target.fill(); }
      } else {
        target.lineWidth = op.size * scale;
        target.lineCap = target.lineJoin = "round";
        if (pts.length === 1) {
          target.arc(pts[0][0], pts[0][1], (op.size * scale) / 2, 0, Math.PI * 2);
          target.fill();
        } else {
          target.moveTo(pts[0][0], pts[0][1]);
          pts.slice(1).forEach(([x, y]) => target.lineTo(x, y));
          target.stroke();
        }
      }
    }
    target.globalCompositeOperation = "source-over";
  }

  function render() {
    const box = image.getBoundingClientRect();
    const ratio = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(box.width * ratio));
    const h = Math.max(1, Math.round(box.height * ratio));
    if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
    ctx.clearRect(0, 0, w, h);
    draw(ctx, w / width, false);
  }
  // What was painted, kept for this picture until an edit of it is made.
  function keep() {
    const shapes = ops.map((op) => ({ ...op, points: op.points.map(([x, y]) => [Math.round(x * 10) / 10, Math.round(y * 10) / 10]) }));
    try { sessionStorage.setItem(keptKey, JSON.stringify({ ops: shapes, prompt: promptField ? promptField.value : "" })); } catch (e) { /* storage unavailable: nothing kept */ }
  }
  function restore() {
    let kept = null;
    try { kept = JSON.parse(sessionStorage.getItem(keptKey) || "null"); } catch (e) { kept = null; }
    if (!kept || !Array.isArray(kept.ops) || !kept.ops.length) return;
    ops.push(...kept.ops);
    // A refused page has the prompt already; a new page (after signing in again) has not.
    if (promptField && !promptField.value && kept.prompt) promptField.value = kept.prompt;
    say(T.kept);
  }
  restore();

  window.addEventListener("resize", render);
  if (image.complete) render(); else image.addEventListener("load", render);

  function at(event) {
    const box = canvas.getBoundingClientRect();
    const x = ((event.clientX - box.left) / box.width) * width;
    const y = ((event.clientY - box.top) / box.height) * height;
    return [Math.max(0, Math.min(width, x)), Math.max(0, Math.min(height, y))];
  }

  canvas.addEventListener("pointerdown", (event) => {
    if (event.button !== 0 && event.pointerType === "mouse") return;
    event.preventDefault();
    canvas.setPointerCapture(event.pointerId);
    current = { tool: tool(), size: brushSize(), points: [at(event)] };
    render();
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!current || !canvas.hasPointerCapture(event.pointerId)) return;
    const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
    if (current.tool === "rect") current.points[1] = at(event);
    else (events.length ? events : [event]).forEach((e) => current.points.push(at(e)));
    render();
  });
  function finish(event) {
    if (!current) return;
    if (event.type === "pointerup" && current.tool === "rect" && current.points.length < 2) current.points.push(at(event));
    const usable = current.tool !== "lasso" || current.points.length > 2;
    if (usable) ops.push(current);
    current = null;
    render();
    say(ops.length ? T.shapes.replace("%s", ops.length) : "");
  }
  canvas.addEventListener("pointerup", finish);
  canvas.addEventListener("pointercancel", finish);

  function undo() { if (ops.length) { ops.pop(); render(); say(T.undone); } }
  document.getElementById("painter-undo").addEventListener("click", undo);
  document.getElementById("painter-clear").addEventListener("click", () => { ops.length = 0; render(); say(T.cleared); });
  document.addEventListener("keydown", (event) => {
    if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "z" && !/TEXTAREA|INPUT/.test(event.target.tagName)) {
      event.preventDefault();
      undo();
    }
  });

  // The mask at the picture's size: black, with the region white.
  function maskBlob() {
    const full = document.createElement("canvas");
    full.width = width;
    full.height = height;
    const c = full.getContext("2d");
    c.fillStyle = "#000";
    c.fillRect(0, 0, width, height);
    draw(c, 1, true);
    // toDataURL rather than toBlob: Chromium runs toBlob's encoding in idle time, which a busy
    // page may not give it for seconds (as in composer.js's mark-up).
    const encoded = atob(full.toDataURL("image/png").split(",")[1]);
    const bytes = new Uint8Array(encoded.length);
    for (let i = 0; i < encoded.length; i++) bytes[i] = encoded.charCodeAt(i);
    return new Blob([bytes], { type: "image/png" });
  }

  form.addEventListener("submit", async (event) => {
    if (mode() !== "edit" || submitting) return;
    const fileInput = maskFile.querySelector('input[type="file"]');
    if (!ops.length && fileInput && fileInput.files.length) return; // a mask file chosen instead
    event.preventDefault();
    errorLine.textContent = "";
    if (!ops.length) {
      errorLine.textContent = T.paint_first;
      return;
    }
    submitting = true;
    say(T.sending);
    try {
      const body = new FormData();
      body.append("file", await maskBlob(), "mask.png");
      const response = await fetch(form.dataset.uploadUrl, { method: "POST", body, headers: { "X-CSRFToken": csrf } });
      const answer = await response.json().catch(() => ({}));
      if (!response.ok) throw new Error(answer.detail || answer.error || T.send_failed);
      maskField.value = answer.id;
      keep();
      say(T.starting);
      form.submit();
    } catch (error) {
      submitting = false;
      errorLine.textContent = error.message;
      say("");
    }
  });
})();
