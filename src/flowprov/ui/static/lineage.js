// The lineage page: draw the server's graph (cytoscape elements in #graph-data) with a layered
// dagre layout; clicking a node opens its page; a workflow run's child runs collapse into it and
// expand again in the browser (right-click it, or the buttons above the graph), without a reload.
// `window.flowprovGraph` exposes the graph for tests.
(function () {
  "use strict";
  var colours = { completed: "#3fae6a", errored: "#d9434a", aborted: "#e29a2e", started: "#5b7fee" };

  // The elements to draw with the workflows in `collapsed` folded: a hidden node is represented by
  // its outermost collapsed ancestor, edges are re-pointed to representatives (one per pair).
  function visibleElements(data, collapsed) {
    var parentOf = {};
    var childCount = {};
    data.nodes.forEach(function (n) {
      if (n.data.parent) {
        parentOf[n.data.id] = n.data.parent;
        childCount[n.data.parent] = (childCount[n.data.parent] || 0) + 1;
      }
    });
    function representative(id) {
      var shown = id;
      for (var up = parentOf[id]; up; up = parentOf[up]) { if (collapsed[up]) { shown = up; } }
      return shown;
    }
    var nodes = [];
    data.nodes.forEach(function (n) {
      if (representative(n.data.id) !== n.data.id) { return; }
      if (collapsed[n.data.id]) {
        var folded = Object.assign({}, n.data, { collapsed: true, label: n.data.label + " (+" + childCount[n.data.id] + ")" });
        nodes.push({ data: folded });
      } else {
        nodes.push(n);
      }
    });
    var edges = [];
    var seen = {};
    data.edges.forEach(function (e) {
      var source = representative(e.data.source);
      var target = representative(e.data.target);
      var key = source + "->" + target;
      if (source === target || seen[key]) { return; }
      seen[key] = true;
      var moved = source !== e.data.source || target !== e.data.target;
      edges.push(moved ? { data: { id: "folded:" + key, source: source, target: target } } : e);
    });
    return { nodes: nodes, edges: edges };
  }

  function layoutFor(elements) {
    // nodes without edges (steps whose files were not recorded) read better in a grid than in one row
    if (elements.edges.length === 0) { return { name: "grid", avoidOverlap: true, fit: true, padding: 16, condense: true }; }
    if (typeof cytoscapeDagre !== "undefined") {
      return { name: "dagre", rankDir: "TB", nodeSep: 18, rankSep: 40, animate: false, fit: true, padding: 16 };
    }
    return { name: "breadthfirst", directed: true };
  }

  function wireFolding(cy, data) {
    var collapsed = {};
    var workflows = {};
    data.nodes.forEach(function (n) { if (n.data.parent) { workflows[n.data.parent] = true; } });
    function redraw() {
      var elements = visibleElements(data, collapsed);
      cy.batch(function () { cy.elements().remove(); cy.add(elements.nodes); cy.add(elements.edges); });
      cy.layout(layoutFor(elements)).run();
    }
    function toggle(id) {
      if (!workflows[id]) { return false; }
      if (collapsed[id]) { delete collapsed[id]; } else { collapsed[id] = true; }
      redraw();
      return true;
    }
    cy.on("cxttap", "node", function (event) { toggle(event.target.id()); });
    var all = document.getElementById("collapse-all");
    var none = document.getElementById("expand-all");
    if (all) { all.addEventListener("click", function () { Object.keys(workflows).forEach(function (id) { collapsed[id] = true; }); redraw(); }); }
    if (none) { none.addEventListener("click", function () { collapsed = {}; redraw(); }); }
    window.flowprovToggle = toggle;
  }
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
        { selector: "node[?collapsed]", style: { "border-style": "double", "border-width": 4, "background-color": "#eef1f6" } },
        { selector: "node[id = '" + data.focus + "']", style: { "border-color": "#2f5bea", "border-width": 4 } },
        { selector: "edge", style: { width: 1.2, "line-color": "#98a2b3", "target-arrow-color": "#98a2b3",
          "target-arrow-shape": "triangle", "curve-style": "bezier", "arrow-scale": 0.8 } }
      ],
      layout: layoutFor(data)
    });
    cy.on("tap", "node", function (event) {
      var href = event.target.data("href");
      if (href) { window.location.href = href; }
    });
    wireFolding(cy, data);
    window.flowprovGraph = cy;
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
