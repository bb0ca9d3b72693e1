// The flow editor (templates/setup/flow_form.html): add, remove and reorder rules, conditions and
// paths in place, renumbering the fields' names so the form posts exactly as the server renders
// it (rules-0-conditions-1-field); operators that fit the chosen field; values picked from the
// page's lists as chips; live weight shares, "paused" at 0.
// Progressive enhancement only: every row button is a submit button the server answers too.
"use strict";

(() => {
  const ALL_OPS = ["in", "not_in", "contains", "between", "in_cidr"];
  // Attributes that carry a row's name prefix (rules-2-paths-0-...).
  const PREFIXED = ["name", "id", "for", "data-prefix", "data-list"];
  const PAUSED = "paused";

  // --- names and numbers ---------------------------------------------------------------------

  function splitAction(value) {
    const at = value.indexOf(":");
    return at < 0 ? [value, ""] : [value.slice(0, at), value.slice(at + 1)];
  }

  // Rename a row: every name, id and label of it (and its row buttons) that starts with `from`.
  function rewrite(root, from, to) {
    const fix = (value) => {
      if (value === from) return to;
      return value.startsWith(`${from}-`) ? to + value.slice(from.length) : null;
    };
    for (const node of [root, ...root.querySelectorAll("*")]) {
      for (const attr of PREFIXED) {
        const value = node.getAttribute(attr);
        const fixed = value === null ? null : fix(value);
        if (fixed !== null) node.setAttribute(attr, fixed);
      }
      if (node.getAttribute("name") === "editor_action") {
        const [verb, target] = splitAction(node.value);
        const fixed = fix(target);
        if (fixed !== null) node.value = `${verb}:${fixed}`;
      }
    }
  }

  const rowsOf = (list) => [...list.children].filter((el) => el.hasAttribute("data-prefix"));
  const visibleRows = (list) => rowsOf(list).filter((el) => !el.hidden);
  const numberOf = (row) => row.querySelector(":scope > legend [data-number]");

  // "Remove rule 3", "Field of condition 2": a row's labels name it by its number.
  function relabel(row, number) {
    const word = row.hasAttribute("data-rule") ? "rule"
      : row.hasAttribute("data-condition") ? "condition" : "path";
    const pattern = new RegExp(`\\b${word} \\d*`);
    row.querySelectorAll("[aria-label], label.visually-hidden").forEach((el) => {
      if (el.closest("[data-prefix]") !== row) return;
      const attr = el.hasAttribute("aria-label");
      const text = attr ? el.getAttribute("aria-label") : el.textContent;
      const fixed = text.replace(pattern, `${word} ${number}`);
      if (fixed === text) return;
      if (attr) el.setAttribute("aria-label", fixed);
      else el.textContent = fixed;
    });
  }

  // Number a list's rows 0..n-1 in page order, then the lists inside each row.
  function renumber(list) {
    const base = list.dataset.list;
    rowsOf(list).forEach((row, index) => {
      const wanted = `${base}-${index}`;
      if (row.dataset.prefix !== wanted) rewrite(row, row.dataset.prefix, wanted);
      const number = numberOf(row);
      if (number) number.textContent = String(index + 1);
      relabel(row, index + 1);
      row.querySelectorAll(":scope [data-list]").forEach((inner) => {
        if (inner.parentElement.closest("[data-prefix]") === row) renumber(inner);
      });
    });
  }

  // --- weights and shares --------------------------------------------------------------------

  function percent(part, total) {
    return `${Math.round((part * 1000) / total) / 10}%`;
  }

  function weightOf(input) {
    const text = input ? input.value.trim() : "";
    if (text === "") return 100; // a blank weight is the default
    const value = Number(text);
    return Number.isInteger(value) && value >= 0 ? value : null;
  }

  function showShares(outputs, weights) {
    const total = weights.reduce((sum, w) => sum + (w ?? 0), 0);
    outputs.forEach((out, i) => {
      if (!out) return;
      const w = weights[i];
      const text = w === null || w === undefined ? "" : w === 0 ? PAUSED : total ? percent(w, total) : "";
      out.textContent = text;
      out.classList.toggle("paused", text === PAUSED);
    });
  }

  function updateRefShares(block) {
    const rows = [...block.querySelectorAll("tr[data-row]")];
    const weights = rows.map((row) => {
      const pick = row.querySelector("select.pick");
      return !pick || pick.value === "" ? null : weightOf(row.querySelector("input.weight"));
    });
    showShares(rows.map((row) => row.querySelector("output.share")), weights);
  }

  function pathIsBlank(path) {
    return ![...path.querySelectorAll("select.pick")].some((pick) => pick.value !== "");
  }

  function updatePathShares(list) {
    const paths = rowsOf(list);
    const weights = paths.map((path) =>
      pathIsBlank(path) ? null : weightOf(path.querySelector("input.path-weight")),
    );
    showShares(paths.map((path) => path.querySelector(":scope > legend output.path-share")), weights);
  }

  function updateAllShares(root) {
    root.querySelectorAll("[data-flow-weights]").forEach(updateRefShares);
    root.querySelectorAll("[data-flow-paths]").forEach(updatePathShares);
  }

  // --- spare rows ----------------------------------------------------------------------------

  // Blank lander and offer rows: one to fill in, the others behind the "Add" button.
  function initRefRows(block, locked) {
    const spare = [...block.querySelectorAll("tr[data-row][data-blank]")];
    spare.forEach((row, i) => { row.hidden = locked || i > 0; });
    refreshAddRow(block, locked);
    if (locked && !block.querySelector("tr[data-row]:not([hidden])")) {
      // Read only, nothing picked: say so rather than show an empty table.
      const table = block.querySelector("table");
      const none = document.createElement("p");
      none.className = "hint none-picked";
      none.textContent = `${table.querySelector("th").textContent}: none`;
      table.hidden = true;
      table.after(none);
    }
  }

  function refreshAddRow(block, locked) {
    const button = block.querySelector("[data-add-row]");
    if (button) button.hidden = locked || !block.querySelector("tr[data-row][hidden]");
  }

  // Blank rules, conditions and paths wait behind their "Add" buttons; a list with nothing
  // filled in shows its first blank row (rules excepted: a flow may have none).
  function hideSpares(list, keepOne) {
    const rows = rowsOf(list);
    const filled = rows.some((row) => !row.hasAttribute("data-blank"));
    let shown = 0;
    rows.forEach((row) => {
      if (!row.hasAttribute("data-blank")) return;
      row.hidden = filled || !keepOne || shown > 0;
      if (!row.hidden) shown += 1;
    });
  }

  // --- conditions ----------------------------------------------------------------------------

  function valuesOf(text, linesOnly) {
    const values = [];
    for (const line of text.split(/\r?\n/)) {
      for (const piece of linesOnly ? [line] : line.split(",")) {
        const value = piece.trim();
        if (value && !values.includes(value)) values.push(value);
      }
    }
    return values;
  }

  class Condition {
    constructor(row, editor) {
      this.row = row;
      this.editor = editor;
      this.fieldSelect = row.querySelector("[data-field-select]");
      this.opSelect = row.querySelector("[data-op-select]");
      this.textarea = row.querySelector("textarea[data-values]");
      this.listPart = row.querySelector("[data-values-list]");
      this.betweenPart = row.querySelector("[data-values-between]");
      this.hint = row.querySelector("[data-values-hint]");
      this.chips = document.createElement("div");
      this.chips.className = "chips";
      this.chips.hidden = true;
      this.listPart.append(this.chips);
      const note = row.querySelector("[data-between-note]");
      if (note) note.hidden = true;
      this.applyField();
    }

    get info() {
      return this.editor.catalog.get(this.fieldSelect.value) || null;
    }

    applyField() {
      const info = this.info;
      const ops = info ? info.ops.split(" ") : ALL_OPS;
      for (const option of this.opSelect.options) {
        const fits = ops.includes(option.value);
        option.disabled = !fits;
        option.hidden = !fits;
      }
      if (!ops.includes(this.opSelect.value)) this.opSelect.value = ops[0];
      this.textarea.placeholder = info ? info.placeholder : "";
      const [low, high] = this.betweenPart.querySelectorAll("input");
      if (low) low.placeholder = info ? info.low : "";
      if (high) high.placeholder = info ? info.high : "";
      this.applyOp();
    }

    applyOp() {
      const between = this.opSelect.value === "between";
      this.listPart.hidden = between;
      this.betweenPart.hidden = !between;
      const info = this.info;
      if (!info) this.hint.textContent = "Pick a field first.";
      else this.hint.textContent = between ? info.hint : `${info.hint} · ${info.separator}`;
      const list = info && info.list ? document.getElementById(info.list) : null;
      this.list = list;
      this.chipMode = Boolean(list) && !between;
      this.textarea.hidden = this.chipMode;
      this.chips.hidden = !this.chipMode;
      if (this.chipMode) this.drawChips();
    }

    get linesOnly() {
      const info = this.info;
      return Boolean(info && "linesOnly" in info);
    }

    values() {
      return valuesOf(this.textarea.value, this.linesOnly);
    }

    setValues(values) {
      this.textarea.value = values.join("\n");
      this.drawChips();
    }

    // What a typed text stands for: an option's value by its value or name ("france" → FR).
    canonical(text) {
      const wanted = text.trim().toLowerCase();
      if (!this.list) return text.trim();
      for (const option of this.list.options) {
        if (option.value.toLowerCase() === wanted) return option.value;
        if ((option.dataset.name || "").toLowerCase() === wanted) return option.value;
      }
      return text.trim();
    }

    nameOf(value) {
      if (!this.list) return "";
      for (const option of this.list.options) {
        if (option.value.toLowerCase() === value.toLowerCase()) return option.dataset.name || "";
      }
      return "";
    }

    add(text) {
      const values = this.values();
      for (const piece of valuesOf(text, this.linesOnly)) {
        const value = this.canonical(piece);
        if (value && !values.some((v) => v.toLowerCase() === value.toLowerCase())) values.push(value);
      }
      this.setValues(values);
    }

    commitInput() {
      if (this.input && this.input.value.trim()) {
        this.add(this.input.value);
        this.input.value = "";
        this.input.focus();
      }
    }

    drawChips() {
      if (!this.chipMode) return;
      const locked = this.editor.locked;
      const number = this.fieldSelect.getAttribute("aria-label") || "";
      this.chips.replaceChildren();
      for (const value of this.values()) {
        const chip = document.createElement("span");
        chip.className = "chip value-chip";
        const name = this.nameOf(value);
        chip.textContent = name ? `${value} · ${name}` : value;
        chip.dataset.value = value;
        if (!locked) {
          const remove = document.createElement("button");
          remove.type = "button";
          remove.className = "chip-remove";
          remove.textContent = "×";
          remove.setAttribute("aria-label", `Remove ${value}`);
          remove.addEventListener("click", () => {
            this.setValues(this.values().filter((v) => v !== value));
            if (this.input) this.input.focus();
          });
          chip.append(remove);
        }
        this.chips.append(chip);
      }
      if (locked) return;
      const input = document.createElement("input");
      input.type = "text";
      input.className = "chip-input";
      input.setAttribute("list", this.list.id);
      input.placeholder = this.values().length ? "Add another…" : "Type or pick…";
      input.setAttribute("aria-label", `Add a value (${number.replace("Field of ", "")})`);
      input.addEventListener("keydown", (event) => {
        if (event.key === "Enter" || (event.key === "," && !this.linesOnly)) {
          event.preventDefault();
          this.commitInput();
        } else if (event.key === "Backspace" && input.value === "") {
          const values = this.values();
          if (values.length) {
            event.preventDefault();
            this.setValues(values.slice(0, -1));
            this.input.focus();
          }
        }
      });
      // A suggestion picked from the list arrives as one replacement, not as typing.
      input.addEventListener("input", (event) => {
        if (!event.inputType || event.inputType === "insertReplacementText") this.commitInput();
      });
      input.addEventListener("blur", () => {
        if (input.value.trim()) {
          this.add(input.value);
          input.value = "";
        }
      });
      this.input = input;
      this.chips.append(input);
    }
  }

  function updateJoiners(rule) {
    const match = rule.querySelector("[data-match]");
    const word = match && match.value === "any" ? "or" : "and";
    const list = rule.querySelector("[data-conditions]");
    visibleRows(list).forEach((row, i) => {
      const joiner = row.querySelector("[data-joiner]");
      if (joiner) joiner.textContent = i === 0 ? "" : word;
    });
  }

  // A rule's time zone matters to its day and time conditions only: shown when it has one (or
  // a zone is already chosen).
  function updateTimezone(rule, catalog) {
    const field = rule.querySelector("[data-timezone]");
    if (!field) return;
    const timed = [...rule.querySelectorAll("[data-field-select]")].some((select) => {
      const info = catalog.get(select.value);
      return info && info.group === "Time" && !select.closest("[data-condition]").hidden;
    });
    field.hidden = !timed && field.querySelector("select").value === "" && !field.querySelector(".field-error");
  }

  // --- the editor ----------------------------------------------------------------------------

  class Editor {
    constructor(root) {
      this.root = root;
      this.form = root.closest("form");
      this.locked = Boolean(root.closest("fieldset[disabled]"));
      this.catalog = new Map();
      document.querySelectorAll("[data-field-catalog] [data-field]").forEach((item) => {
        this.catalog.set(item.dataset.field, item.dataset);
      });
      this.template = document.querySelector("template[data-rule-template]");
      // Each condition row's behaviour, by its element (rows come and go).
      this.conditions = new WeakMap();
      this.rules = root.querySelector("[data-rules]");

      root.querySelectorAll("[data-condition]").forEach((row) => this.initCondition(row));
      root.querySelectorAll("[data-flow-weights]").forEach((block) => initRefRows(block, this.locked));
      hideSpares(this.rules, false);
      root.querySelectorAll("[data-conditions]").forEach((list) => hideSpares(list, true));
      root.querySelectorAll("[data-flow-paths]").forEach((list) => hideSpares(list, true));
      root.querySelectorAll("[data-rule]").forEach(updateJoiners);
      this.refresh();

      root.addEventListener("click", (event) => this.onClick(event));
      root.addEventListener("change", (event) => this.onChange(event));
      root.addEventListener("input", () => updateAllShares(root));
      if (this.form) {
        this.form.addEventListener("submit", () => {
          root.querySelectorAll("[data-condition]").forEach((row) => {
            const condition = this.conditions.get(row);
            if (condition) condition.commitInput();
          });
        });
      }
    }

    initCondition(row) {
      this.conditions.set(row, new Condition(row, this));
    }

    initRow(row) {
      row.querySelectorAll("[data-condition]").forEach((c) => this.initCondition(c));
      if (row.matches("[data-condition]")) this.initCondition(row);
      row.querySelectorAll("[data-flow-weights]").forEach((block) => initRefRows(block, false));
      if (row.matches("[data-rule]")) updateJoiners(row);
    }

    // After any change of rows: names, numbers, which buttons apply, the shares.
    refresh() {
      renumber(this.rules);
      this.root.querySelectorAll(":scope > section [data-flow-paths]").forEach((list) => {
        if (!list.closest("[data-rule]")) renumber(list);
      });
      const rules = visibleRows(this.rules);
      rules.forEach((rule, i) => {
        const up = rule.querySelector(':scope > .rule-head [data-move="up"]');
        const down = rule.querySelector(':scope > .rule-head [data-move="down"]');
        if (up) up.disabled = i === 0;
        if (down) down.disabled = i === rules.length - 1;
      });
      this.root.querySelectorAll("[data-rule]").forEach((rule) => {
        updateJoiners(rule);
        updateTimezone(rule, this.catalog);
      });
      const none = this.root.querySelector("[data-no-rules]");
      if (none) none.hidden = rules.length > 0;
      updateAllShares(this.root);
    }

    blankFrom(selector) {
      if (!this.template) return null;
      const found = this.template.content.querySelector(selector);
      return found ? document.importNode(found, true) : null;
    }

    add(list) {
      let row = rowsOf(list).find((r) => r.hidden);
      if (row) {
        row.hidden = false;
      } else {
        const kind = list.hasAttribute("data-rules") ? "[data-rule]"
          : list.hasAttribute("data-conditions") ? "[data-condition]" : "[data-path]";
        row = this.blankFrom(kind);
        if (!row) return;
        list.append(row);
        this.refresh();
        this.initRow(row);
      }
      this.refresh();
      const first = row.querySelector("input:not([type=hidden]), select, textarea");
      if (first) first.focus();
    }

    remove(row) {
      const list = row.parentElement;
      row.remove();
      this.refresh();
      // Focus moves to the list's "Add" button, the nearest thing still there.
      const add = list.parentElement.querySelector(
        `[name=editor_action][value="add:${CSS.escape(list.dataset.list)}"]`,
      );
      if (add) add.focus();
    }

    move(row, direction) {
      const rows = visibleRows(row.parentElement);
      const at = rows.indexOf(row);
      const other = rows[direction === "up" ? at - 1 : at + 1];
      if (!other) return;
      if (direction === "up") other.before(row);
      else other.after(row);
      this.refresh();
      const button = row.querySelector(`:scope > .rule-head [data-move="${direction}"]`);
      if (button && !button.disabled) button.focus();
      else row.querySelector("[data-rule-name]")?.focus();
      row.scrollIntoView({ block: "nearest" });
    }

    onClick(event) {
      const addRow = event.target.closest("[data-add-row]");
      if (addRow) {
        const block = addRow.closest("[data-flow-weights]");
        const next = block.querySelector("tr[data-row][hidden]");
        if (next) {
          next.hidden = false;
          next.querySelector("select")?.focus();
        }
        refreshAddRow(block, this.locked);
        return;
      }
      const button = event.target.closest("button[name=editor_action]");
      if (!button || this.locked) return;
      event.preventDefault();
      const [verb, target] = splitAction(button.value);
      const selector = (attr) => `[${attr}="${CSS.escape(target)}"]`;
      if (verb === "add") {
        const list = this.root.querySelector(selector("data-list"));
        if (list) this.add(list);
        return;
      }
      const row = this.root.querySelector(selector("data-prefix"));
      if (!row) return;
      if (verb === "remove") this.remove(row);
      else if (verb === "up" || verb === "down") this.move(row, verb);
    }

    onChange(event) {
      const target = event.target;
      const row = target.closest("[data-condition]");
      const condition = row ? this.conditions.get(row) : null;
      if (condition && target.matches("[data-field-select]")) {
        condition.applyField();
        updateTimezone(row.closest("[data-rule]"), this.catalog);
      }
      else if (condition && target.matches("[data-op-select]")) condition.applyOp();
      else if (target.matches("[data-match]")) updateJoiners(target.closest("[data-rule]"));
      updateAllShares(this.root);
      const block = target.closest("[data-flow-weights]");
      if (block) refreshAddRow(block, this.locked);
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("[data-flow-editor]").forEach((root) => new Editor(root));
  });
})();
