// Every page: the header's menu on phones. A real button with aria-expanded opens and closes
// it; Escape closes it and gives focus back to the button. Without JavaScript the button stays
// hidden and the menu stays open (site.css folds it only under html.js).
(function () {
  "use strict";
  const toggle = document.querySelector(".menu-toggle");
  const menu = document.getElementById("site-menu");
  if (!toggle || !menu) return;
  const header = toggle.closest(".topbar");
  toggle.hidden = false;

  function setOpen(open) {
    toggle.setAttribute("aria-expanded", String(open));
    header.classList.toggle("menu-open", open);
  }

  toggle.addEventListener("click", () => {
    setOpen(toggle.getAttribute("aria-expanded") !== "true");
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && toggle.getAttribute("aria-expanded") === "true") {
      setOpen(false);
      toggle.focus();
    }
  });
})();
