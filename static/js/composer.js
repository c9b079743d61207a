// The composer: previews in order, reorder/remove before submitting, live prompt counter,
// preset scaffolds. Without JavaScript the form still works: the order is the selection order.
(function () {
  "use strict";
  const form = document.getElementById("composer");
  if (!form) return;
  const input = form.querySelector('input[type="file"][name="images"]');
  const list = document.getElementById("previews");
  const template = document.getElementById("preview-template");
  const counter = document.getElementById("photo-count");
  const prompt = form.querySelector('textarea[name="prompt"]');
  const promptCount = document.getElementById("prompt-count");
  const preset = form.querySelector('select[name="preset"]');
  const modelSelect = form.querySelector('select[name="model"]');
  const scaffolds = JSON.parse(document.getElementById("preset-scaffolds").textContent);
  const models = JSON.parse(document.getElementById("model-limits").textContent);
  const hasSource = form.dataset.hasSource === "1";
  const maxBytes = Number(form.dataset.maxUploadMb) * 1024 * 1024;
  const offset = hasSource ? 1 : 0;
  let files = [];
  let lastScaffold = "";

  function maxImages() {
    const m = models[modelSelect.value];
    return m ? Math.min(14, m.max_images) : 14;
  }

  function total() { return files.length + offset; }

  function syncInput() {
    // The file input is the source of truth on submit: rebuild it in the chosen order.
    const transfer = new DataTransfer();
    files.forEach((item) => transfer.items.add(item.file));
    input.files = transfer.files;
  }

  function describeCount() {
    const n = total();
    const max = maxImages();
    let text = `${n} photo${n === 1 ? "" : "s"} selected.`;
    if (n === 0) {
      // Browsers never keep chosen files across a submission, so after an error say so.
      text = form.dataset.hadErrors === "1" ? "Please choose your photos again." : "No photos yet.";
    }
    if (n > 0 && n < 2) text += " Add at least one more.";
    if (n > max) text += ` This model takes at most ${max}: remove ${n - max}.`;
    const tooBig = files.filter((f) => f.file.size > maxBytes);
    if (tooBig.length) text += ` ${tooBig.map((f) => f.file.name).join(", ")} ${tooBig.length === 1 ? "is" : "are"} over ${form.dataset.maxUploadMb} MB.`;
    counter.textContent = text;
    counter.classList.toggle("warn", (n > 0 && n < 2) || n > max || tooBig.length > 0);
  }

  function render() {
    list.querySelectorAll("li").forEach((li) => li.remove());
    files.forEach((item, index) => {
      const node = template.content.firstElementChild.cloneNode(true);
      node.dataset.index = String(index);
      node.querySelector(".preview-index").textContent = `Image ${index + 1 + offset}`;
      const img = node.querySelector("img");
      img.src = item.url;
      img.alt = `Image ${index + 1 + offset}: ${item.file.name}`;
      node.querySelector(".preview-name").textContent = item.file.name;
      const role = node.querySelector("select");
      role.value = item.role;
      role.addEventListener("change", () => { item.role = role.value; });
      node.querySelector('[data-action="up"]').disabled = index === 0;
      node.querySelector('[data-action="down"]').disabled = index === files.length - 1;
      list.appendChild(node);
    });
    syncInput();
    describeCount();
    refreshScaffold();
  }

  function move(from, to) {
    if (to < 0 || to >= files.length) return;
    const [item] = files.splice(from, 1);
    files.splice(to, 0, item);
    render();
  }

  input.addEventListener("change", () => {
    // Each pick adds to the list, so photos can come from several folders.
    Array.from(input.files).forEach((file) => {
      files.push({ file, url: URL.createObjectURL(file), role: "" });
    });
    render();
  });

  list.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-action]");
    if (!button) return;
    const index = Number(button.closest("li").dataset.index);
    if (button.dataset.action === "up") move(index, index - 1);
    if (button.dataset.action === "down") move(index, index + 1);
    if (button.dataset.action === "remove") {
      URL.revokeObjectURL(files[index].url);
      files.splice(index, 1);
      render();
    }
  });

  // Drag and drop reordering.
  let dragFrom = null;
  list.addEventListener("dragstart", (event) => {
    const li = event.target.closest("li");
    if (li) { dragFrom = Number(li.dataset.index); li.classList.add("dragging"); }
  });
  list.addEventListener("dragover", (event) => { event.preventDefault(); });
  list.addEventListener("drop", (event) => {
    event.preventDefault();
    const li = event.target.closest("li");
    if (li && dragFrom !== null) move(dragFrom, Number(li.dataset.index));
    dragFrom = null;
  });
  list.addEventListener("dragend", () => { dragFrom = null; render(); });

  function updatePromptCount() {
    promptCount.textContent = String(prompt.value.length);
    promptCount.parentElement.classList.toggle("warn", prompt.value.length > 4000);
  }

  function scaffoldFor(name) {
    const n = Math.max(total(), 2);
    return (scaffolds[name] || "")
      .replaceAll("{n}", String(n))
      .replaceAll("{last}", String(n))
      .replaceAll("{before_last}", String(n - 1));
  }

  function refreshScaffold() {
    // Keep the scaffold's image numbers right as photos are added, unless the person edited it.
    if (prompt.value === lastScaffold && preset.value !== "none") {
      prompt.value = lastScaffold = scaffoldFor(preset.value);
      updatePromptCount();
    }
  }

  // The consent statement only concerns presets with people; without JavaScript it stays shown.
  const consent = document.getElementById("consent-field");
  function showConsent() {
    if (!consent) return;
    const people = consent.dataset.peoplePresets.split(" ");
    consent.hidden = !people.includes(preset.value);
    // Checked before the form is sent, so the chosen photos are not lost to a server error.
    consent.querySelector('input[type="checkbox"]').required = !consent.hidden;
  }

  preset.addEventListener("change", () => {
    const untouched = prompt.value.trim() === "" || prompt.value === lastScaffold;
    if (untouched) {
      prompt.value = lastScaffold = scaffoldFor(preset.value);
      updatePromptCount();
    }
    showConsent();
  });
  showConsent();

  function limitOptions() {
    const m = models[modelSelect.value];
    if (!m) return;
    form.querySelectorAll('select[name="aspect_ratio"] option').forEach((o) => { o.disabled = !m.ratios.includes(o.value); });
    form.querySelectorAll('select[name="image_size"] option').forEach((o) => { o.disabled = !m.image_sizes.includes(o.value); });
    describeCount();
  }

  const estimate = document.getElementById("estimate");
  const sizeSelect = form.querySelector('select[name="image_size"]');
  const countSelect = form.querySelector('select[name="num_images"]');

  function updateEstimate() {
    const m = models[modelSelect.value];
    if (!m || !estimate) return;
    const balance = Number(estimate.dataset.balance);
    const perImage = Number(m.prices[sizeSelect.value] || 1);
    const cost = perImage * Number(countSelect.value);
    let text = `This will use ${cost} credit${cost === 1 ? "" : "s"} (${perImage} per image); balance ${balance}.`;
    if (!m.allowed) text = "Your plan does not include this model.";
    else if (!m.image_sizes.includes(sizeSelect.value)) text = "Your plan does not include this image size.";
    else if (cost > balance) text += " Not enough credits.";
    estimate.textContent = text;
    estimate.classList.toggle("warn", !m.allowed || cost > balance || !m.image_sizes.includes(sizeSelect.value));
  }

  [modelSelect, sizeSelect, countSelect].forEach((el) => el.addEventListener("change", updateEstimate));
  modelSelect.addEventListener("change", limitOptions);
  prompt.addEventListener("input", updatePromptCount);
  form.addEventListener("submit", () => {
    syncInput();
    const button = document.getElementById("compose-submit");
    button.disabled = true;
    button.textContent = "Uploading…";
  });
  // Submitting disabled the button; coming back with the browser's Back button re-enables it.
  window.addEventListener("pageshow", () => {
    const button = document.getElementById("compose-submit");
    button.disabled = false;
    button.textContent = "Compose";
  });

  // A server-side error re-renders the page without the files (browsers never keep them).
  input.value = "";
  limitOptions();
  updateEstimate();
  updatePromptCount();
  describeCount();
})();
