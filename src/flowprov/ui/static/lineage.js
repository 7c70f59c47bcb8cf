// The lineage page: draw the server's graph (cytoscape elements in #graph-data) with a layered
// dagre layout; clicking a node opens its page. `window.flowprovGraph` exposes the graph for tests.
(function () {
  "use strict";
  var colours = { completed: "#3fae6a", errored: "#d9434a", aborted: "#e29a2e", started: "#5b7fee" };
  function start() {
    var holder = document.getElementById("graph");
    var data = JSON.parse(document.getElementById("graph-data").textContent);
    if (typeof cytoscape === "undefined") { return; }
    if (typeof cytoscapeDagre !== "undefined") { cytoscape.use(cytoscapeDagre); }
    holder.textContent = "";
    var cy = cytoscape({
      container: holder,
      elements: { nodes: data.nodes, edges: data.edges },
      wheelSensitivity: 0.3,
      style: [
        { selector: "node", style: { label: "data(label)", "font-size": 11, "text-valign": "center", "text-halign": "center",
          "text-wrap": "wrap", "text-max-width": 136, width: 160, height: 34, "background-color": "#eceef2",
          "border-width": 1, "border-color": "#b8c0cc", color: "#1d2330" } },
        { selector: "node[kind = 'artifact'], node[kind = 'files']", style: { shape: "round-rectangle", "background-color": "#ffffff" } },
        { selector: "node[kind = 'run'], node[kind = 'step']", style: { shape: "round-tag", "background-color": "#e0e8fd" } },
        { selector: "node[status = 'completed'][kind != 'workflow']", style: { "border-color": colours.completed, "border-width": 2 } },
        { selector: "node[status = 'errored'][kind != 'workflow']", style: { "border-color": colours.errored, "border-width": 3, "background-color": "#fbe0e0" } },
        { selector: "node[status = 'aborted'][kind != 'workflow']", style: { "border-color": colours.aborted, "border-width": 2 } },
        { selector: ":parent", style: { "text-valign": "top", "text-halign": "center", "background-color": "#f7f8fa",
          "background-opacity": 0.6, "border-color": "#98a2b3", "border-style": "dashed", padding: 14, "font-weight": "bold" } },
        { selector: "node[id = '" + data.focus + "']", style: { "border-color": "#2f5bea", "border-width": 4 } },
        { selector: "edge", style: { width: 1.2, "line-color": "#98a2b3", "target-arrow-color": "#98a2b3",
          "target-arrow-shape": "triangle", "curve-style": "bezier", "arrow-scale": 0.8 } }
      ],
      // nodes without edges (steps whose files were not recorded) read better in a grid than in one row
      layout: data.edges.length === 0
        ? { name: "grid", avoidOverlap: true, fit: true, padding: 16, condense: true }
        : typeof cytoscapeDagre !== "undefined"
          ? { name: "dagre", rankDir: "TB", nodeSep: 18, rankSep: 40, animate: false, fit: true, padding: 16 }
          : { name: "breadthfirst", directed: true }
    });
    cy.on("tap", "node", function (event) {
      var href = event.target.data("href");
      if (href) { window.location.href = href; }
    });
    window.flowprovGraph = cy;
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
