// Progressive enhancement only: every page works without this file.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // A select inside a [data-autosubmit] form submits it on change (workspace switcher).
  document.querySelectorAll("form[data-autosubmit] select").forEach((select) => {
    select.addEventListener("change", () => select.form.submit());
  });

  // <button data-copy="#id"> copies the text (or value) of the element it names.
  document.querySelectorAll("[data-copy]").forEach((button) => {
    button.addEventListener("click", async () => {
      const target = document.querySelector(button.dataset.copy);
      if (!target) return;
      const text = "value" in target ? target.value : target.textContent;
      try {
        await navigator.clipboard.writeText(text.trim());
      } catch {
        if (target.select) { target.select(); document.execCommand("copy"); }
      }
      const label = button.textContent;
      button.textContent = "Copied";
      setTimeout(() => { button.textContent = label; }, 1500);
    });
  });

  // <form data-confirm="Archive this offer?"> asks before submitting.
  document.querySelectorAll("form[data-confirm]").forEach((form) => {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });
});

// A list's range picker: typing a date means a custom range.
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-range-picker]").forEach((picker) => {
    const select = picker.querySelector("select");
    picker.querySelectorAll("[data-range-day]").forEach((input) => {
      input.addEventListener("change", () => { if (select) select.value = "custom"; });
    });
  });
});

// Phones: the main navigation folds behind a Menu button (app.css shows it below 720 px).
document.addEventListener("DOMContentLoaded", () => {
  const bar = document.querySelector(".topbar");
  const toggle = bar && bar.querySelector(".nav-toggle");
  if (!toggle) return;
  bar.classList.add("js-nav");
  toggle.addEventListener("click", () => {
    const open = bar.classList.toggle("nav-open");
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
  });
});
