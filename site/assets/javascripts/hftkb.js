/* hftkb: sort and filter the paper tables, copy BibTeX. No dependencies; every page loads it.
 * A table block is <section data-hftkb-table> with a <form> of [data-filter] controls, a [data-shown] counter
 * and a <table> whose rows carry data-kind, data-stage, data-venue, data-year and data-code (see
 * hftkb/site/tables.py). Text from records is only ever read (textContent), never written as HTML. */
(function () {
  "use strict";

  function cellText(row, index) {
    var cell = row.cells[index];
    return cell ? cell.textContent.trim().toLowerCase() : "";
  }

  function setupTable(block) {
    var table = block.querySelector("table");
    var body = table && table.tBodies[0];
    if (!body) return;
    var rows = Array.prototype.slice.call(body.rows);
    var shown = block.querySelector("[data-shown]");
    var controls = block.querySelectorAll("[data-filter]");
    var form = block.querySelector("form");
    // Which cell the text filter reads: the title (column 1) unless the block says otherwise.
    var textColumn = parseInt(block.getAttribute("data-text-column") || "1", 10);
    if (form) form.addEventListener("submit", function (event) { event.preventDefault(); });

    function apply() {
      var wanted = {};
      var text = "";
      var code = false;
      controls.forEach(function (control) {
        var name = control.getAttribute("data-filter");
        if (name === "text") text = control.value.trim().toLowerCase();
        else if (name === "code") code = control.checked;
        else if (control.value !== "") wanted[name] = control.value;
      });
      var words = text ? text.split(/\s+/) : [];
      var count = 0;
      rows.forEach(function (row) {
        var ok = true;
        for (var name in wanted) {
          if (row.getAttribute("data-" + name) !== wanted[name]) { ok = false; break; }
        }
        if (ok && code && row.getAttribute("data-code") !== "1") ok = false;
        if (ok && words.length) {
          var title = cellText(row, textColumn);
          ok = words.every(function (word) { return title.indexOf(word) !== -1; });
        }
        row.hidden = !ok;
        if (ok) count += 1;
      });
      if (shown) shown.textContent = String(count);
      if (inUrl) writeUrl();
    }

    // The page's first table (and any block marked data-url-state: the results pages) keeps its filters in the URL (?stage=alignment&code=1), so a filtered view can be
    // bookmarked, shared and restored with the back button; other query parameters (Material's ?h=) stay.
    var inUrl = (document.querySelector("[data-hftkb-table]") === block || block.hasAttribute("data-url-state")) &&
      window.history && window.URLSearchParams;
    function writeUrl() {
      var params = new URLSearchParams(window.location.search);
      controls.forEach(function (control) {
        var name = control.getAttribute("data-filter");
        var value = control.type === "checkbox" ? (control.checked ? "1" : "") : control.value.trim();
        if (value) params.set(name, value); else params.delete(name);
      });
      var query = params.toString();
      var url = window.location.pathname + (query ? "?" + query : "") + window.location.hash;
      if (url !== window.location.pathname + window.location.search + window.location.hash) {
        window.history.replaceState(window.history.state, "", url);
      }
    }
    function readUrl() {
      var params = new URLSearchParams(window.location.search);
      var any = false;
      controls.forEach(function (control) {
        var value = params.get(control.getAttribute("data-filter"));
        if (value === null) return;
        if (control.type === "checkbox") control.checked = value === "1";
        else if (control.tagName === "SELECT") {
          // Only a value the filter offers (the options come from the rows): anything else is ignored.
          if (!Array.prototype.some.call(control.options, function (o) { return o.value === value; })) return;
          control.value = value;
        } else control.value = value;
        any = true;
      });
      return any;
    }
    controls.forEach(function (control) {
      control.addEventListener(control.type === "search" ? "input" : "change", apply);
    });
    if (inUrl && readUrl()) apply();

    // A table whose rows share one kind and stage has no Kind column (hftkb/site/tables.py, data-no-kind).
    var columns = { date: 0, title: 1, venue: block.hasAttribute("data-no-kind") ? 2 : 3 };
    var buttons = block.querySelectorAll("[data-sort]");
    buttons.forEach(function (button) {
      button.addEventListener("click", function () {
        var key = button.getAttribute("data-sort");
        // Paper tables name their columns; other tables (results, authors) sort the button's own column.
        var index = key in columns && !block.hasAttribute("data-text-column") && !button.hasAttribute("data-sort-type")
          ? columns[key] : button.parentElement.cellIndex;
        var numeric = button.getAttribute("data-sort-type") === "number";
        // aria-sort sits on the header cell, where screen readers look for it.
        var header = button.parentElement;
        var current = header.getAttribute("aria-sort");
        // First click: dates newest first, text A to Z; a second click reverses.
        var order = current ? (current === "ascending" ? "descending" : "ascending") : (key === "date" || numeric ? "descending" : "ascending");
        var sign = order === "ascending" ? 1 : -1;
        buttons.forEach(function (other) { other.parentElement.removeAttribute("aria-sort"); });
        header.setAttribute("aria-sort", order);
        var keyed = rows.map(function (row, position) {
          var value = cellText(row, index);
          if (numeric) {
            // data-value holds the number when the cell shows more than it (a sign, a unit, a link).
            var cell = row.cells[index];
            var raw = cell && cell.hasAttribute("data-value") ? cell.getAttribute("data-value") : value;
            value = raw === "" ? "" : parseFloat(raw);
            if (value !== "" && isNaN(value)) value = "";
          }
          if (key === "title") {
            // Sort by the title itself, not by the short name shown before it.
            var link = row.cells[1].querySelector("a");
            if (link) value = link.textContent.trim().toLowerCase();
          }
          return { row: row, value: value, position: position };
        });
        keyed.sort(function (a, b) {
          if (a.value === "" && b.value !== "") return 1;   // empty venues last, whatever the order
          if (b.value === "" && a.value !== "") return -1;
          if (a.value < b.value) return -sign;
          if (a.value > b.value) return sign;
          return a.position - b.position;
        });
        rows = keyed.map(function (item) { return item.row; });
        var fragment = document.createDocumentFragment();
        rows.forEach(function (row) { fragment.appendChild(row); });
        body.appendChild(fragment);
      });
    });
  }

  function setupCopy(button) {
    button.addEventListener("click", function () {
      var target = document.getElementById(button.getAttribute("data-copy-target"));
      if (!target) return;
      var text = target.textContent;
      var done = function () {
        var label = button.textContent;
        button.textContent = "Copied";
        setTimeout(function () { button.textContent = label; }, 1500);
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(done, function () { selectText(target); });
      } else {
        selectText(target);
      }
    });
  }

  function selectText(element) {
    var range = document.createRange();
    range.selectNodeContents(element);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  function init() {
    document.querySelectorAll("[data-hftkb-table]").forEach(setupTable);
    document.querySelectorAll("[data-copy-target]").forEach(setupCopy);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
