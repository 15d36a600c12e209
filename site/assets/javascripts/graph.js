/* hftkb: the relationship graph viewer (graph page only), on the vendored Cytoscape.js.
 * Reads downloads/graph.json (built by hftkb/site/graph.py with networkx): every node comes with its colour (the
 * site's palette, hftkb/site/palette.py) and a position laid out at build time, so the picture is the same on
 * every load. Filters remove and restore nodes without moving the others; the search box highlights matches
 * and centres the first; ?focus=<paper id> opens on one paper and its neighbours.
 * Record strings reach only Cytoscape labels (drawn on a canvas) and textContent, never innerHTML. */
(function () {
  "use strict";
  var holder = document.querySelector(".hftkb-graph");
  var container = document.getElementById("hftkb-cy");
  if (!holder || !container || typeof window.cytoscape !== "function") return;
  var status = holder.querySelector(".hftkb-graph-status");
  var root = holder.getAttribute("data-site-root");

  fetch(holder.getAttribute("data-graph-url"))
    .then(function (response) {
      if (!response.ok) throw new Error("HTTP " + response.status);
      return response.json();
    })
    .then(function (graph) {
      // Labels and edges in the page's own colours, so they stay readable in the dark scheme too.
      var style = window.getComputedStyle(container);
      var labelColour = style.color || "#555";
      var background = style.backgroundColor || "#fff";
      var cy = window.cytoscape({
        container: container,
        elements: graph.elements,
        minZoom: 0.05,
        maxZoom: 3,
        style: [
          { selector: "node", style: {
              "background-color": "data(colour)", "label": "data(label)", "font-size": 10, "color": labelColour,
              "text-valign": "bottom", "text-margin-y": 3, "width": "mapData(degree, 0, 12, 12, 34)",
              "height": "mapData(degree, 0, 12, 12, 34)", "text-max-width": 110, "text-wrap": "ellipsis",
              "border-width": 1.5, "border-color": background,
              // Labels appear once they would be readable: zoom in, or find a paper, to read them.
              "min-zoomed-font-size": 7, "text-background-color": background, "text-background-opacity": 0.7,
              "text-background-padding": 1 } },
          { selector: "edge", style: {
              "width": 1.1, "line-color": "#9e9e9e", "target-arrow-color": "#9e9e9e", "opacity": 0.7,
              "target-arrow-shape": "triangle", "curve-style": "bezier", "arrow-scale": 0.7 } },
          // The hubs keep their labels at any zoom: they are the landmarks of the overview.
          { selector: "node[degree >= 6]", style: { "min-zoomed-font-size": 0, "font-weight": "bold" } },
          { selector: ".faded", style: { "opacity": 0.15, "text-opacity": 0 } },
          { selector: "node.match", style: { "border-width": 3, "border-color": labelColour, "min-zoomed-font-size": 0,
              "font-weight": "bold", "z-index": 10 } },
          { selector: "node:selected", style: { "border-width": 4, "border-color": labelColour, "min-zoomed-font-size": 0 } }
        ],
        layout: { name: "preset", fit: true, padding: 20 }
      });
      // For the browser test and for curious users in the console: the live graph and every paper in it.
      window.hftkbGraph = cy;

      var form = holder.querySelector("form");
      var search = form.querySelector("[data-graph-search]");
      var everything = cy.elements();
      var total = cy.nodes().length;

      function report() {
        status.textContent = cy.nodes().length + " of " + total + " papers shown, " + cy.edges().length +
          " relations. Click a node to open its page; the list below the graph has every relation as text.";
      }
      // Filtering removes the hidden papers (and their edges) and restores them later; positions never change.
      function visible() {
        var kinds = {}, stages = {};
        form.querySelectorAll("[data-kind]").forEach(function (box) { kinds[box.getAttribute("data-kind")] = box.checked; });
        form.querySelectorAll("[data-stage]").forEach(function (box) { stages[box.getAttribute("data-stage")] = box.checked; });
        var isolated = form.querySelector("[data-isolated]").checked;
        cy.batch(function () {
          everything.filter(function (ele) { return ele.removed(); }).restore();
          cy.nodes().filter(function (node) {
            return !(kinds[node.data("kind")] !== false && stages[node.data("stage")] !== false &&
              (isolated || node.degree(false) > 0));
          }).remove();
        });
        cy.fit(undefined, 20);
        report();
        find();
      }
      // Search: every paper whose label or title holds all the words is highlighted, the rest faded; the view
      // centres on the first match.
      function find() {
        var words = search.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
        cy.batch(function () {
          cy.elements().removeClass("faded match");
          if (!words.length) return;
          var matches = cy.nodes().filter(function (node) {
            var text = (node.data("label") + " " + node.data("title")).toLowerCase();
            return words.every(function (word) { return text.indexOf(word) !== -1; });
          });
          cy.elements().not(matches).addClass("faded");
          matches.addClass("match");
          if (matches.length) {
            cy.animate({ center: { eles: matches[0] }, zoom: Math.max(cy.zoom(), 1.2) }, { duration: 200 });
            status.textContent = matches.length + " paper" + (matches.length === 1 ? "" : "s") + " match: " +
              matches.slice(0, 5).map(function (n) { return n.data("label"); }).join(", ") + (matches.length > 5 ? ", ..." : "");
          } else {
            status.textContent = "No paper shown matches \u201c" + search.value.trim() + "\u201d.";
          }
        });
      }
      // With no relations at all, show every paper rather than an empty canvas.
      if (cy.edges().length === 0) form.querySelector("[data-isolated]").checked = true;
      form.addEventListener("change", function (event) { if (event.target !== search) visible(); });
      search.addEventListener("input", find);
      form.addEventListener("submit", function (event) { event.preventDefault(); });
      visible();

      // ?focus=<id> (the paper pages link it): that paper and its neighbours, the rest faded.
      var focus = new URLSearchParams(window.location.search).get("focus");
      var centre = focus ? cy.getElementById(focus) : null;
      if (centre && centre.length) {
        if (centre.removed()) { form.querySelector("[data-isolated]").checked = true; visible(); centre = cy.getElementById(focus); }
        var near = centre.closedNeighborhood();
        cy.elements().not(near).addClass("faded");
        centre.select();
        cy.fit(near, 40);
        status.textContent = centre.data("title") + ": " + (near.nodes().length - 1) + " related papers.";
      }

      cy.on("tap", "node", function (event) {
        window.location.href = root + event.target.data("url");
      });
      cy.on("mouseover", "node", function (event) {
        status.textContent = event.target.data("title") + " (" + event.target.data("id") + ")";
      });
    })
    .catch(function (error) {
      status.textContent = "The graph could not be loaded (" + error.message + "). Serve the site over HTTP, e.g. `mkdocs serve`.";
    });
})();
