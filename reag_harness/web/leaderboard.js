(function () {
  "use strict";
  var D = RH.data(), el = RH.el, fmt = RH.fmt;
  var ORDER = ["infoseek", "evqa"], TEXT_COLS = ["system", "generator", "source", "citation", "kb", "retriever",
    "critic", "size", "training", "preset"];
  var SETTING_LABELS = { kb: "KB", retriever: "Retriever (k)", critic: "Critic", size: "Size", training: "Training" };
  var tasks = [];
  D.rows.forEach(function (r) { if (tasks.indexOf(r.task) < 0) tasks.push(r.task); });
  tasks.sort(function (a, b) {
    var ia = ORDER.indexOf(a), ib = ORDER.indexOf(b);
    return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || (a < b ? -1 : a > b ? 1 : 0);
  });
  var DEFAULTS = { task: D.default_task, source: "all", smoke: "0", sort: "headline", dir: "", q: "" };
  function readState() {
    var s = RH.readHash(DEFAULTS);
    if (tasks.indexOf(s.task) < 0 && tasks.length) s.task = tasks[0];
    if (["all", "measured", "reported"].indexOf(s.source) < 0) s.source = "all";
    return s;
  }
  var state = readState();
  function writeState() { RH.writeHash(Object.assign({}, state, { dir: state.dir || defaultDir(state.sort) })); }
  function defaultDir(col) { return TEXT_COLS.indexOf(col) >= 0 ? "asc" : "desc"; }
  function columnsFor(task, rows) {
    var cols = (D.columns[task] || []).filter(function (c) {
      return rows.some(function (r) { return r.metrics[c] !== null && r.metrics[c] !== undefined; });
    });
    if (!cols.length) {
      rows.forEach(function (r) {
        [r.headline_metric].concat(Object.keys(r.metrics)).forEach(function (c) { if (cols.indexOf(c) < 0) cols.push(c); });
      });
    }
    return cols;
  }
  function setting(r, key) {
    var s = r.setting_columns || {};
    if (key === "retriever") return s.retriever ? s.retriever + (s.k !== null && s.k !== undefined ? " (k=" + s.k + ")" : "") : null;
    return s[key] === undefined ? null : s[key];
  }
  function presetText(r) { return r.preset ? r.preset : r.no_preset ? "no preset" : null; }
  function value(r, col) {
    if (col === "headline") return r.headline;
    if (col === "n") return r.n;
    if (col === "preset") return (presetText(r) || "").toLowerCase();
    if (SETTING_LABELS[col]) return String(setting(r, col) || "").toLowerCase();
    if (["system", "generator", "source", "citation"].indexOf(col) >= 0) return (r[col] || "").toLowerCase();
    var v = r.metrics[col];
    return v === undefined ? null : v;
  }
  function searchText(r) {
    return [r.system, r.generator, r.pipeline, r.citation, r.setting, presetText(r)].concat(
      D.setting_keys.map(function (k) { return setting(r, k); })).join(" ");
  }
  function visibleRows() {
    return D.rows.filter(function (r) {
      return r.task === state.task && (state.source === "all" || r.source === state.source) &&
        (state.smoke === "1" || !r.smoke) && RH.matches(searchText(r), state.q);
    });
  }
  function sorted(rows) {
    var dir = (state.dir || defaultDir(state.sort)) === "asc" ? 1 : -1;
    return rows.slice().sort(function (a, b) {
      var va = value(a, state.sort), vb = value(b, state.sort);
      if (a.comparable !== b.comparable) return a.comparable ? -1 : 1;
      if (!!a.no_bem !== !!b.no_bem) return a.no_bem ? 1 : -1;  // EM-only lower bounds ranked apart
      if ((va === null || va === "") && (vb === null || vb === "")) return a.system < b.system ? -1 : 1;
      if (va === null || va === "") return 1;
      if (vb === null || vb === "") return -1;
      if (va < vb) return -dir;
      if (va > vb) return dir;
      return (a.source === "measured" ? -1 : 1) - (b.source === "measured" ? -1 : 1) || (a.system < b.system ? -1 : 1);
    });
  }
  var MEASUREMENT = { own: "The citing authors' own measurement", copied: "Copied from another paper",
    "re-implementation": "Re-implemented and measured by the citing authors", unknown: "Who measured it is not stated" };
  function linksCell(r) {
    var td = el("td", { "class": "cite", "data-col": "citation" });
    td.appendChild(el("div", {}, r.citation));
    if (r.provenance) {  // folded (click to open), so a row stays a few lines high and the board fits a screen
      var prov = el("details", { "class": "provenance", "data-provenance": r.provenance.measurement });
      prov.appendChild(el("summary", {}, "provenance: " + r.provenance.measurement));
      prov.appendChild(el("div", {}, "Read from: " + r.provenance.location + ". " +
        (MEASUREMENT[r.provenance.measurement] || r.provenance.measurement) +
        (r.provenance.copied_from ? "; copied: " + r.provenance.copied_from : "") + "."));
      td.appendChild(prov);
    }
    Object.keys(r.flags || {}).forEach(function (k) { td.appendChild(el("div", { "class": "flag-text", "data-flag": k }, "\u2020 " + r.flags[k])); });
    var box = el("div", { "class": "links" }), L = r.links || {};
    Object.keys(L).forEach(function (k) {
      if (k === "viewer_hint") box.appendChild(el("span", { "class": "muted", title: "write the viewer page with: " + L[k] }, "viewer: run '" + L[k] + "'"));
      else if (RH.safeHref(L[k]) !== null) box.appendChild(el("a", { href: RH.safeHref(L[k]), "data-link": k, title: L[k] }, k === "results" ? "results.json" : k));
    });
    td.appendChild(box);
    return td;
  }
  function renderTable(rows, cols, headline) {
    var thead = document.querySelector("#board thead"), tbody = document.querySelector("#board tbody");
    thead.innerHTML = ""; tbody.innerHTML = "";
    var head = el("tr");
    var spec = [["rank", "#"], ["system", "System"], ["generator", "Generator"], ["source", "Source"]];
    cols.forEach(function (c) { spec.push([c === headline ? "headline" : c, D.labels[c] || c]); });
    spec.push(["interval", "95% CI"], ["recall", "Recall@k"]);
    D.setting_keys.filter(function (k) { return SETTING_LABELS[k]; }).forEach(function (k) { spec.push([k, SETTING_LABELS[k]]); });
    spec.push(["preset", "Preset"], ["n", "n"], ["citation", "Citation / run"]);
    spec.forEach(function (s) {
      var th = el("th", { "data-col": s[0] }, s[1]);
      if (TEXT_COLS.indexOf(s[0]) < 0 && s[0] !== "recall") th.className = "num";
      if (s[0] === state.sort) th.className += " sorted-" + (state.dir || defaultDir(state.sort));
      if (["rank", "interval", "recall", "citation"].indexOf(s[0]) < 0) th.addEventListener("click", function () {
        state.dir = state.sort === s[0] ? ((state.dir || defaultDir(s[0])) === "asc" ? "desc" : "asc") : defaultDir(s[0]);
        state.sort = s[0]; writeState(); render();
      });
      head.appendChild(th);
    });
    thead.appendChild(head);
    rows.forEach(function (r, i) {
      var tr = el("tr", { "class": "lb-row src-" + r.source + (r.smoke ? " smoke" : ""), "data-id": r.id,
                          "data-source": r.source, "data-task": r.task, "data-system": r.system,
                          "data-headline": r.headline === null ? "" : String(r.headline) });
      var tip = (r.notes || []).concat(Object.keys(r.flags || {}).map(function (k) { return r.flags[k]; })).join("\n");
      if (tip) tr.title = tip;
      tr.appendChild(el("td", { "class": "num", "data-col": "rank" }, String(i + 1)));
      var sys = el("td", { "class": "system", "data-col": "system" }, r.system);
      if (r.flags && r.flags.system) sys.appendChild(el("span", { "class": "flag", title: r.flags.system }, "\u2020"));
      if (r.pipeline) { sys.appendChild(el("br")); sys.appendChild(el("span", { "class": "pipeline" }, r.pipeline)); }
      tr.appendChild(sys);
      tr.appendChild(el("td", { "data-col": "generator" }, r.generator));
      var src = el("td", { "data-col": "source" });
      src.appendChild(el("span", { "class": "badge " + r.source }, r.source));
      if (r.smoke) src.appendChild(el("span", { "class": "badge smoke" }, "smoke"));
      if (!r.comparable && !r.smoke) src.appendChild(el("span", { "class": "badge oracle" }, "oracle"));
      if (r.no_bem) src.appendChild(el("span", { "class": "badge nobem", title: r.flags.scoring }, "no BEM"));
      tr.appendChild(src);
      cols.forEach(function (c) {
        var td = el("td", { "class": "num" + (c === headline ? " headline" : ""), "data-col": c }, fmt(r.metrics[c]));
        if (r.flags && (r.flags[c] || r.no_bem)) {
          td.appendChild(el("span", { "class": "flag", title: r.flags[c] || r.flags.scoring }, "\u2020"));
        }
        tr.appendChild(td);
      });
      var ci = r.interval;
      tr.appendChild(el("td", { "class": "num", "data-col": "interval", title: ci ? ci.method + ", " + ci.n_boot + " resamples" : null },
                        ci ? "[" + fmt(ci.lo) + ", " + fmt(ci.hi) + "]" : "\u2013"));
      var rec = Object.keys(r.retrieval || {}).map(function (k) { return k.replace("recall", "R") + " " + fmt(r.retrieval[k]); });
      tr.appendChild(el("td", { "class": "setting", "data-col": "recall" }, rec.length ? rec.join(" \u00b7 ") : "\u2013"));
      D.setting_keys.filter(function (k) { return SETTING_LABELS[k]; }).forEach(function (k) {
        var v = setting(r, k);
        tr.appendChild(el("td", { "class": "setting", "data-col": k }, v === null || v === "" ? "\u2013" : String(v)));
      });
      var pc = el("td", { "class": "setting", "data-col": "preset" }, r.preset ? r.preset : r.no_preset ? "" : "\u2013");
      if (!r.preset && r.no_preset) {  // the reason on hover: inline it made each row a paragraph
        pc.appendChild(el("span", { "class": "no-preset", title: r.no_preset, tabindex: "0" }, "none"));
      }
      tr.appendChild(pc);
      var n = el("td", { "class": "num", "data-col": "n" }, r.n === null ? "\u2013" : String(r.n));
      if (r.flags && r.flags.n) n.appendChild(el("span", { "class": "flag", title: r.flags.n }, "\u2020"));
      tr.appendChild(n);
      tr.appendChild(linksCell(r));
      tbody.appendChild(tr);
    });
  }
  function niceMax(v) {
    var step = v <= 10 ? 2 : v <= 50 ? 10 : 20;
    return Math.max(step, Math.ceil(v / step) * step);
  }
  function renderChart(rows, headline) {
    var chart = document.getElementById("chart");
    chart.innerHTML = "";
    var withValue = rows.filter(function (r) { return r.headline !== null; });
    var max = niceMax(Math.max.apply(null, [1].concat(withValue.map(function (r) { return r.headline; }))));
    var ticks = [];
    for (var t = 0; t <= 4; t++) ticks.push(max * t / 4);
    withValue.slice().sort(function (a, b) {
      return (a.comparable === b.comparable ? 0 : a.comparable ? -1 : 1) || b.headline - a.headline;
    }).forEach(function (r) {
      var row = el("div", { "class": "bar-row", "data-id": r.id });
      row.appendChild(el("span", { "class": "bar-label", title: r.system + " / " + r.generator }, r.system + " \u00b7 " + r.generator));
      var track = el("div", { "class": "bar-track" });
      ticks.forEach(function (v) { track.appendChild(el("div", { "class": "grid", style: "left:" + (100 * v / max) + "%" })); });
      track.appendChild(el("div", { "class": "bar " + r.source + (r.smoke ? " smoke" : r.comparable ? "" : " oracle"),
                                    style: "width:" + (100 * r.headline / max).toFixed(2) + "%" }));
      row.appendChild(track);
      row.appendChild(el("span", { "class": "bar-value" }, fmt(r.headline)));
      chart.appendChild(row);
    });
    var axisRow = el("div", { "class": "axis-row" });
    axisRow.appendChild(el("span", { "class": "bar-label muted" }, "system \u00b7 generator"));
    var axis = el("div", { "class": "axis", "data-max": String(max) });
    ticks.forEach(function (v) { axis.appendChild(el("span", { "class": "tick", style: "left:" + (100 * v / max) + "%" }, fmt(v))); });
    axisRow.appendChild(axis);
    axisRow.appendChild(el("span", {}, ""));
    chart.appendChild(axisRow);
    var title = el("div", { "class": "axis-row" });
    title.appendChild(el("span", {}, ""));
    title.appendChild(el("span", { "class": "axis-title" }, (D.labels[headline] || headline) + " (" + state.task + " headline, %)"));
    chart.appendChild(title);
  }
  function render() {
    var all = D.rows.filter(function (r) { return r.task === state.task; });
    var rows = sorted(visibleRows()), cols = columnsFor(state.task, all);
    var headline = all.map(function (r) { return r.headline_metric; })[0];
    document.getElementById("title").textContent = D.titles[state.task] || (state.task + " (headline: " + headline + ")");
    document.getElementById("count").textContent = rows.length + " rows";
    renderTable(rows, cols, headline);
    renderChart(rows, headline);
    document.getElementById("task").value = state.task;
    document.getElementById("source").value = state.source;
    document.getElementById("smoke").checked = state.smoke === "1";
    document.getElementById("search").value = state.q;
  }
  var taskSel = document.getElementById("task");
  tasks.forEach(function (t) { taskSel.appendChild(el("option", { value: t }, t)); });
  taskSel.addEventListener("change", function () { state.task = taskSel.value; state.sort = "headline"; state.dir = ""; writeState(); render(); });
  document.getElementById("source").addEventListener("change", function (e) { state.source = e.target.value; writeState(); render(); });
  document.getElementById("smoke").addEventListener("change", function (e) { state.smoke = e.target.checked ? "1" : "0"; writeState(); render(); });
  document.getElementById("search").addEventListener("input", function (e) { state.q = e.target.value; writeState(); render(); });
  window.addEventListener("hashchange", function () { state = readState(); render(); });
  var notes = document.getElementById("notes");
  (D.cautions || []).forEach(function (c) { notes.appendChild(el("p", {}, "Caution: " + c)); });
  notes.appendChild(el("p", {}, "Generated by 'reag-eval leaderboard --format html' (and after every append). Reported numbers are transcribed from the papers; measured rows come from leaderboard.json."));
  render();
  document.body.setAttribute("data-rendered", "1");
})();
