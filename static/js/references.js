// Saved references' pages: ask before a destructive form, and show the consent fields only for
// a real person (they stay in the page without JavaScript).
(function () {
  "use strict";
  document.querySelectorAll("form[data-confirm]").forEach((form) => {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });
  const person = document.getElementById("id_depicts_person");
  const fields = document.querySelectorAll(".consent-fields");
  if (!person || !fields.length) return;
  const toggle = () => fields.forEach((el) => { el.hidden = !person.checked; });
  person.addEventListener("change", toggle);
  toggle();
})();
