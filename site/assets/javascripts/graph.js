/* hftkb: the relationship graph viewer (graph page only), on the vendored Cytoscape.js.
 * Reads downloads/graph.json (built by hftkb/site/graph.py with networkx). Record strings reach only
 * Cytoscape labels (drawn on a canvas) and textContent, never innerHTML. */
(function () {
  "use strict";
  var holder = document.querySelector(".hftkb-graph");
  var container = document.getElementById("hftkb-cy");
  if (!holder || !container || typeof window.cytoscape !== "function") return;
  var status = holder.querySelector(".hftkb-graph-status");
  var root = holder.getAttribute("data-site-root");
  var colours = { attack: "#D55E00", defense: "#0072B2", analysis: "#009E73", benchmark: "#E69F00", survey: "#CC79A7" };
  var spare = ["#56B4E9", "#999999", "#F0E442", "#666666"];

  function colourOf(kind, legend) {
    if (colours[kind]) return colours[kind];
    var keys = Object.keys(legend.kinds || {});
    return spare[Math.max(0, keys.indexOf(kind)) % spare.length];
  }

  fetch(holder.getAttribute("data-graph-url"))
    .then(function (response) {
      if (!response.ok) throw new Error("HTTP " + response.status);
      return response.json();
    })
    .then(function (graph) {
      var legend = graph.legend || {};
      // Labels in the page's text colour, so they stay readable in the dark scheme too.
      var labelColour = window.getComputedStyle(container).color || "#555";
      graph.elements.nodes.forEach(function (node) { node.data.colour = colourOf(node.data.kind, legend); });
      holder.querySelectorAll("[data-swatch]").forEach(function (swatch) {
        swatch.style.background = colourOf(swatch.getAttribute("data-swatch"), legend);
      });
      var cy = window.cytoscape({
        container: container,
        elements: graph.elements,
        minZoom: 0.1,
        maxZoom: 3,
        style: [
          { selector: "node", style: {
              "background-color": "data(colour)", "label": "data(label)", "font-size": 9, "color": labelColour,
              "text-valign": "bottom", "text-margin-y": 3, "width": "mapData(degree, 0, 12, 10, 34)",
              "height": "mapData(degree, 0, 12, 10, 34)", "text-max-width": 90, "text-wrap": "ellipsis" } },
          { selector: "edge", style: {
              "width": 1.2, "line-color": "#b0b0b0", "target-arrow-color": "#b0b0b0",
              "target-arrow-shape": "triangle", "curve-style": "bezier", "arrow-scale": 0.8 } },
          { selector: "node:selected", style: { "border-width": 3, "border-color": "#ff7043" } }
        ],
        layout: { name: "preset" }
      });
      // For the browser test and for curious users in the console: the live graph and every paper in it.
      window.hftkbGraph = cy;

      var form = holder.querySelector("form");
      var everything = cy.elements();
      var total = cy.nodes().length;
      // Filtering removes the hidden papers from the graph (and their edges with them) and restores them later:
      // simpler and safer for the layout and renderer than hiding elements with styles.
      function visible() {
        var kinds = {}, stages = {};
        form.querySelectorAll("[data-kind]").forEach(function (box) { kinds[box.getAttribute("data-kind")] = box.checked; });
        form.querySelectorAll("[data-stage]").forEach(function (box) { stages[box.getAttribute("data-stage")] = box.checked; });
        var isolated = form.querySelector("[data-isolated]").checked;
        cy.batch(function () {
          everything.filter(function (ele) { return ele.removed(); }).restore();
          var hidden = cy.nodes().filter(function (node) {
            var show = kinds[node.data("kind")] !== false && stages[node.data("stage")] !== false &&
              (isolated || node.degree(false) > 0);
            return !show;
          });
          hidden.remove();
        });
        cy.layout({ name: "cose", animate: false, randomize: true, nodeRepulsion: 6000, idealEdgeLength: 60,
                    fit: true, padding: 20 }).run();
        status.textContent = cy.nodes().length + " of " + total + " papers shown, " + cy.edges().length +
          " relations. Click a node to open its page.";
      }
      // With no relations at all, show every paper rather than an empty canvas.
      if (cy.edges().length === 0) form.querySelector("[data-isolated]").checked = true;
      form.addEventListener("change", visible);
      form.addEventListener("submit", function (event) { event.preventDefault(); });
      visible();

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
