// Setup pages: live weight shares, spare rows behind "Add" buttons, the campaign's destination
// and cost hints, an offer's network suffix, tokens inserted where the cursor is.
// Progressive enhancement only: every form works and saves without this file.
"use strict";

(() => {
  const readOnly = (el) => Boolean(el.closest("fieldset[disabled]"));

  // "25%", "33.3%": each picked row's share of the weights in its table.
  function percent(part, total) {
    const share = Math.round((part * 1000) / total) / 10;
    return `${share}%`;
  }

  function weightOf(input) {
    const text = input.value.trim();
    if (text === "") return 100; // a blank weight is the default
    const value = Number(text);
    return Number.isInteger(value) && value >= 0 ? value : null;
  }

  function updateShares(block) {
    const rows = [...block.querySelectorAll("tr[data-row]")];
    const weights = rows.map((row) => {
      const pick = row.querySelector("select.pick");
      const weight = row.querySelector("input.weight");
      if (!pick || !weight || pick.value === "") return null;
      return weightOf(weight);
    });
    const total = weights.reduce((sum, w) => sum + (w ?? 0), 0);
    rows.forEach((row, i) => {
      const out = row.querySelector("output.share");
      if (out) out.textContent = weights[i] === null || total === 0 ? "" : percent(weights[i], total);
    });
  }

  function initWeights(block) {
    const button = block.querySelector("[data-add-row]");
    const spare = [...block.querySelectorAll("tr[data-row][data-blank]")];
    const locked = readOnly(block);
    // Keep one blank row to fill in; the others wait behind the button.
    spare.forEach((row, i) => { row.hidden = locked || i > 0; });
    const refreshButton = () => {
      if (button) button.hidden = locked || !block.querySelector("tr[data-row][hidden]");
    };
    if (button) {
      button.addEventListener("click", () => {
        const next = block.querySelector("tr[data-row][hidden]");
        if (next) {
          next.hidden = false;
          const pick = next.querySelector("select");
          if (pick) pick.focus();
        }
        refreshButton();
      });
    }
    refreshButton();
    block.addEventListener("input", () => updateShares(block));
    block.addEventListener("change", () => updateShares(block));
  }

  function initPaths(container) {
    const button = container.parentElement.querySelector("[data-add-path]");
    const paths = [...container.querySelectorAll("[data-path]")];
    const locked = readOnly(container);
    const filled = paths.filter((p) => !p.hasAttribute("data-blank")).length;
    // A new flow shows its first path; an existing one hides its spare path behind the button.
    let shown = 0;
    paths.forEach((path) => {
      if (!path.hasAttribute("data-blank")) return;
      path.hidden = locked || filled > 0 || shown > 0;
      if (!path.hidden) shown += 1;
    });
    const refresh = () => {
      if (button) button.hidden = locked || !container.querySelector("[data-path][hidden]");
    };
    if (button) {
      button.addEventListener("click", () => {
        const next = container.querySelector("[data-path][hidden]");
        if (next) next.hidden = false;
        refresh();
      });
    }
    refresh();
  }

  function initDestination(group) {
    const form = group.closest("form");
    const apply = () => {
      const checked = group.querySelector("input[type=radio]:checked");
      const value = checked ? checked.value : "";
      form.querySelectorAll("[data-show-for]").forEach((part) => {
        part.hidden = !part.dataset.showFor.split(" ").includes(value);
      });
      form.querySelectorAll("[data-landers-part]").forEach((part) => {
        part.hidden = value !== "landers";
      });
    };
    group.addEventListener("change", apply);
    apply();
  }

  function initCostModel(select) {
    const hint = document.getElementById("cost-hint");
    if (!hint) return;
    select.addEventListener("change", () => {
      const option = select.selectedOptions[0];
      hint.textContent = option ? option.dataset.hint || "" : "";
    });
  }

  function initNetworkSuffix(select) {
    const hint = document.getElementById("suffix-hint");
    const url = select.form.querySelector("input[name=url]");
    if (!hint || !url) return;
    const code = hint.querySelector("code.suffix");
    const show = () => {
      const option = select.selectedOptions[0];
      const suffix = option ? option.dataset.suffix || "" : "";
      hint.dataset.suffix = suffix;
      if (code) code.textContent = suffix;
      hint.hidden = suffix === "";
    };
    select.addEventListener("change", show);
    const append = hint.querySelector("[data-append-suffix]");
    if (append) {
      append.addEventListener("click", () => {
        const suffix = hint.dataset.suffix;
        const current = url.value.trim();
        if (!suffix || current.includes(suffix)) return;
        const joiner = current.includes("?") ? (/[?&]$/.test(current) ? "" : "&") : "?";
        url.value = current + joiner + suffix;
        url.focus();
      });
    }
  }

  function initTokens(box) {
    const target = document.querySelector(box.dataset.tokenTarget);
    if (!target || readOnly(target)) return;
    box.querySelectorAll("button[data-token]").forEach((button) => {
      button.addEventListener("click", () => {
        const token = button.dataset.token;
        const start = target.selectionStart ?? target.value.length;
        const end = target.selectionEnd ?? target.value.length;
        target.value = target.value.slice(0, start) + token + target.value.slice(end);
        target.focus();
        target.setSelectionRange(start + token.length, start + token.length);
      });
    });
  }

  // The campaign form's link to the picked flow's editor follows the flow picked.
  function initFlowLink(select) {
    const link = select.form.querySelector("a[data-flow-link]");
    if (!link) return;
    const show = () => {
      const id = select.value;
      link.closest(".flow-link").hidden = !/^\d+$/.test(id);
      if (/^\d+$/.test(id)) link.href = link.dataset.flowLink.replace("/0/", `/${id}/`);
    };
    select.addEventListener("change", show);
    show();
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("[data-weights]").forEach(initWeights);
    document.querySelectorAll("[data-paths]").forEach(initPaths);
    document.querySelectorAll("[data-destination]").forEach(initDestination);
    document.querySelectorAll("select[data-cost-model]").forEach(initCostModel);
    document.querySelectorAll("select[data-network-select]").forEach(initNetworkSuffix);
    document.querySelectorAll(".tokens[data-token-target]").forEach(initTokens);
    document.querySelectorAll("select#flow_id").forEach(initFlowLink);
    // The list's "Show archived" box applies at once, like the workspace switcher.
    document.querySelectorAll("form[data-autosubmit] input[type=checkbox]").forEach((box) => {
      box.addEventListener("change", () => box.form.submit());
    });
  });
})();
