// Compare two pictures side by side or with a wipe slider (a range input: arrow keys, Home/End
// and Page Up/Down move it), and copy a share link.
(function () {
  "use strict";
  // Words from Django's JavaScript catalogue (jsi18n/); English without it.
  const gettext = window.gettext || ((s) => s);
  const interpolate = window.interpolate || ((fmt, obj) => fmt.replace(/%\((\w+)\)s/g, (_, k) => String(obj[k])));

  document.querySelectorAll("[data-copy]").forEach((button) => {
    button.addEventListener("click", async () => {
      const input = document.getElementById(button.dataset.copy);
      input.select();
      try {
        await navigator.clipboard.writeText(input.value);
        button.textContent = gettext("Copied");
      } catch (error) {
        button.textContent = gettext("Press Ctrl+C to copy");
      }
    });
  });

  const compare = document.getElementById("compare");
  if (!compare) return;
  const left = document.getElementById("compare-left");
  const right = document.getElementById("compare-right");
  const side = document.getElementById("compare-side");
  const wipe = document.getElementById("compare-wipe");
  const range = document.getElementById("wipe");
  const frame = wipe.querySelector(".wipe-frame");
  const line = wipe.querySelector(".wipe-line");
  const wipeLeft = document.getElementById("wipe-left");

  function label(select) { return select.options[select.selectedIndex].text; }

  function showPictures() {
    const l = left.options[left.selectedIndex];
    const r = right.options[right.selectedIndex];
    for (const [img, option, text] of [
      ["side-left", l, "side-left-label"], ["side-right", r, "side-right-label"],
      ["wipe-left", l, "wipe-left-label"], ["wipe-right", r, "wipe-right-label"],
    ]) {
      const el = document.getElementById(img);
      el.src = option.value;
      el.alt = option.text;
      document.getElementById(text).textContent = option.text;
    }
    frame.style.aspectRatio = `${l.dataset.w} / ${l.dataset.h}`;
  }

  function moveWipe() {
    const value = Number(range.value);
    wipeLeft.style.clipPath = `inset(0 ${100 - value}% 0 0)`;
    line.style.left = `${value}%`;
    range.setAttribute("aria-valuetext", `${value}% ${label(left)}, ${100 - value}% ${label(right)}`);
  }

  compare.querySelectorAll('input[name="compare-mode"]').forEach((radio) => {
    radio.addEventListener("change", () => {
      const wiping = radio.value === "wipe" && radio.checked;
      wipe.hidden = !wiping;
      side.hidden = wiping;
    });
  });
  left.addEventListener("change", showPictures);
  right.addEventListener("change", showPictures);
  range.addEventListener("input", moveWipe);
  moveWipe();
})();
