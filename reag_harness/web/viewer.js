(function () {
  "use strict";
  var T0 = performance.now();
  var D = RH.data(), el = RH.el, NR = D.runs.length, PAIR = NR === 2;
  var DEFAULTS = { outcome: "all", side: "0", qtype: "all", gold: "all", filtered: "0", errors: "0", pair: "all",
                   q: "", page: "1" };
  var state = RH.readHash(DEFAULTS);
  var haystack = D.samples.map(function (s) {
    return [s.id, s.q].concat(s.r.map(function (r) { return r ? r.answer || "" : ""; })).join(" \u0001 ");
  });
  var chunks = {};
  /* The bulky part of sample i (pages, passages, reasoning), parsed on first use, one block at a time. */
  function detail(i) {
    var c = Math.floor(i / D.chunk);
    if (!chunks[c]) chunks[c] = JSON.parse(document.getElementById("chunk-" + c).textContent);
    return chunks[c][i % D.chunk];
  }
  D.samples.forEach(function (s, i) { s.i = i; });
  function runOf(s) { return s.r[Math.min(+state.side || 0, NR - 1)]; }
  function keep(s, i) {
    var r = runOf(s);
    if (state.outcome !== "all") {
      if (!r || r.c === null) return false;
      if ((state.outcome === "correct") !== (r.c === 1)) return false;
    }
    if (state.qtype !== "all" && s.qt !== state.qtype) return false;
    if (state.gold !== "all" && (!r || r.gr === null || r.gr !== (state.gold === "hit"))) return false;
    if (state.filtered === "1" && !(r && r.af)) return false;
    if (state.errors === "1" && !s.r.some(function (x) { return x && x.error; })) return false;
    if (PAIR && state.pair !== "all" && s.pc !== state.pair) return false;
    if (state.q && !RH.matches(haystack[i], state.q)) return false;
    return true;
  }
  function pageText(k) { return D.pages[k]; }
  /* A long text (an unparsed raw output can run to thousands of characters) shows its first lines and a
     button that unfolds the rest; a short one is shown whole. */
  var FOLD_CHARS = 280, FOLD_LINES = 4;
  function folded(tag, attrs, text) {
    var lines = text.split("\n");
    if (text.length <= FOLD_CHARS && lines.length <= FOLD_LINES) return el(tag, attrs, text);
    var head = lines.slice(0, FOLD_LINES).join("\n").slice(0, FOLD_CHARS) + " \u2026";
    var box = el("span", { "class": "fold", "data-length": String(text.length) });
    var body = el(tag, attrs, head);
    var btn = el("button", { type: "button", "class": "unfold" }, "show all (" + text.length + " characters)");
    btn.addEventListener("click", function () {
      var open = box.getAttribute("data-open") === "1";
      body.textContent = open ? head : text;
      btn.textContent = open ? "show all (" + text.length + " characters)" : "fold";
      box.setAttribute("data-open", open ? "0" : "1");
    });
    box.appendChild(body);
    box.appendChild(btn);
    return box;
  }
  function renderRun(s, r, label, more) {
    var box = el("div", { "class": "run", "data-run": label });
    if (PAIR) box.appendChild(el("h3", {}, "Run " + label));
    if (!r) { box.appendChild(el("p", { "class": "muted" }, "not in this run")); return box; }
    var verdict = el("div", { "class": "verdict" });
    verdict.appendChild(el("span", {}, "Answer: "));
    verdict.appendChild(r.answer === null ? el("span", { "class": "answer" }, "(none)")
                                          : folded("span", { "class": "answer" }, r.answer));
    if (r.c === 1) verdict.appendChild(el("span", { "class": "badge ok" }, "correct"));
    else if (r.c === 0) verdict.appendChild(el("span", { "class": "badge bad" }, "wrong"));
    box.appendChild(verdict);
    if (r.error) box.appendChild(folded("div", { "class": "error" }, "Error: " + r.error));
    if (r.crop) {
      box.appendChild(el("div", { "class": "crop muted" }, "Query crop: " + (r.crop.used ? "used" : "not used") +
        (r.crop.entity ? ", entity '" + r.crop.entity + "'" : "") + (r.crop.reason ? " (" + r.crop.reason + ")" : "") +
        (r.crop.box ? ", box [" + r.crop.box.map(function (v) { return Math.round(v); }).join(", ") + "]" : "")));
    }
    var gold = s.gold || [];
    r = Object.assign({}, r, more);
    if (r.pages.length) {
      var det = el("details", { "class": "pages-box", open: "" });  // pages first, open; long texts come folded
      var hit = r.gr === true ? " \u00b7 gold retrieved" : r.gr === false ? " \u00b7 gold not retrieved" : "";
      det.appendChild(el("summary", {}, "Retrieved pages (" + r.pages.length + ")" + hit));
      var ol = el("ol", { "class": "pages" });
      r.pages.forEach(function (p) {
        var isGold = gold.indexOf(p[0]) >= 0;
        var li = el("li", { "class": isGold ? "gold" : null }, pageText(p[0]) + "  ");
        li.appendChild(el("span", { "class": "pyes" }, "score " + RH.fmt(p[1], 3)));
        if (isGold) li.appendChild(el("span", { "class": "badge gold" }, "gold page"));
        ol.appendChild(li);
      });
      det.appendChild(ol);
      box.appendChild(det);
    }
    if (r.ps.length) {
      var kept = r.ps.filter(function (p) { return p[2]; }).length;
      var pd = el("details", { "class": "passages-box" });
      pd.appendChild(el("summary", {}, "Passages (" + r.ps.length + ", kept " + kept + ")" + (r.af ? " \u00b7 all filtered" : "")));
      var pl = el("ol", {});
      r.ps.forEach(function (p) {
        var ref = D.passages[p[0]], isGold = s.ev !== null && gold.indexOf(ref[0]) >= 0 && ref[1] === s.ev;
        var li = el("li", { "class": "passage" + (p[2] ? " kept" : "") + (isGold ? " gold" : "") });
        li.appendChild(el("span", { "class": "pyes" }, "p=" + (p[1] === null ? "\u2013" : RH.fmt(p[1], 3))));
        if (isGold) li.appendChild(el("span", { "class": "badge gold" }, "gold evidence"));
        li.appendChild(el("span", {}, " " + ref[2]));
        li.appendChild(el("span", { "class": "muted" }, "  (" + pageText(ref[0]) + " #" + ref[1] + ")"));
        pl.appendChild(li);
      });
      pd.appendChild(pl);
      box.appendChild(pd);
    }
    if (r.reasoning) {
      var rd = el("details", { "class": "reasoning-box" });
      rd.appendChild(el("summary", {}, "Reasoning"));
      rd.appendChild(folded("pre", {}, r.reasoning));
      box.appendChild(rd);
    }
    if (r.raw) {
      var raw = el("details", {});
      raw.appendChild(el("summary", {}, "Raw output"));
      raw.appendChild(folded("pre", {}, r.raw));
      box.appendChild(raw);
    }
    return box;
  }
  function renderSample(s) {
    var a = s.r[0], card = el("div", { "class": "sample", "data-id": s.id,
      "data-correct": a && a.c !== null ? String(a.c) : "", "data-pair": PAIR ? (s.pc || "") : null });
    var head = el("div", { "class": "head" });
    var src = s.img === null ? null : D.images[s.img];
    if (src && src.indexOf("data:image/") !== 0) src = RH.safeHref(src);  /* embedded thumbnail or relative path only */
    if (src) head.appendChild(el("img", { "class": "thumb", src: src, alt: "query image", loading: "lazy" }));
    else head.appendChild(el("div", { "class": "noimg" }, s.img === null ? "no image" : "image not embedded"));
    var text = el("div", {});
    text.appendChild(el("div", { "class": "sid" }, s.id + (s.qt ? " \u00b7 " + s.qt : "")));
    text.appendChild(el("div", { "class": "question" }, s.q));
    text.appendChild(el("div", { "class": "refs" }, "References: " + (s.refs.length ? s.refs.join(" | ") : "(none)")));
    head.appendChild(text);
    card.appendChild(head);
    var runs = el("div", { "class": "runs", style: "--nruns:" + NR });
    var more = detail(s.i);
    s.r.forEach(function (r, i) { runs.appendChild(renderRun(s, r, D.runs[i].label, more[i])); });
    card.appendChild(runs);
    return card;
  }
  function pager(box, page, pages, total) {
    box.innerHTML = "";
    var prev = el("button", { type: "button", "class": "prev" }, "\u2190 previous");
    var next = el("button", { type: "button", "class": "next" }, "next \u2192");
    prev.disabled = page <= 1; next.disabled = page >= pages;
    prev.addEventListener("click", function () { go(page - 1); });
    next.addEventListener("click", function () { go(page + 1); });
    box.appendChild(prev);
    box.appendChild(el("span", { "class": "page-info" }, "page " + page + " of " + pages + " \u00b7 " + total +
                        " of " + D.samples.length + " samples"));
    box.appendChild(next);
  }
  function go(page) { state.page = String(page); RH.writeHash(state); render(); window.scrollTo(0, 0); }
  function render() {
    var shown = [];
    D.samples.forEach(function (s, i) { if (keep(s, i)) shown.push(s); });
    var pages = Math.max(1, Math.ceil(shown.length / D.page_size));
    var page = Math.min(Math.max(1, parseInt(state.page, 10) || 1), pages);
    var box = document.getElementById("samples");
    box.innerHTML = "";
    var frag = document.createDocumentFragment();
    shown.slice((page - 1) * D.page_size, page * D.page_size).forEach(function (s) { frag.appendChild(renderSample(s)); });
    box.appendChild(frag);
    pager(document.getElementById("pager-top"), page, pages, shown.length);
    pager(document.getElementById("pager-bottom"), page, pages, shown.length);
    document.body.setAttribute("data-shown", String(shown.length));
    document.body.setAttribute("data-page", String(page));
    ["outcome", "side", "qtype", "gold", "pair"].forEach(function (k) {
      var e = document.getElementById("f-" + k); if (e) e.value = state[k];
    });
    document.getElementById("f-filtered").checked = state.filtered === "1";
    document.getElementById("f-errors").checked = state.errors === "1";
    document.getElementById("f-q").value = state.q;
  }
  function summary() {
    var box = document.getElementById("summary");
    D.runs.forEach(function (run) {
      var part = el("span", { "class": "run-summary", "data-run": run.label });
      part.appendChild(el("span", {}, (PAIR ? run.label + ": " : "") + run.headline_metric + " "));
      part.appendChild(el("b", { "class": "headline" }, RH.fmt(run.headline)));
      var rq = run.retrieval || {};
      Object.keys(rq).forEach(function (k) {
        part.appendChild(el("span", {}, " \u00b7 " + k + " "));
        part.appendChild(el("b", {}, RH.fmt(rq[k])));
      });
      box.appendChild(part);
    });
    if (PAIR && D.pair) {
      var p = D.pair, c = el("span", { "class": "pair-summary" });
      c.textContent = "B \u2212 A on " + p.n + " shared samples: " + (p.diff >= 0 ? "+" : "") + RH.fmt(100 * p.diff) +
        " pts, 95% CI [" + RH.fmt(100 * p.ci[0]) + ", " + RH.fmt(100 * p.ci[1]) + "], " + p.test + " p=" +
        RH.fmt(p.p_value, 4) + " (as 'reag-eval compare')";
      box.appendChild(c);
    }
    document.getElementById("runs-line").textContent = D.runs.map(function (r) {
      return (PAIR ? r.label + ": " : "") + r.run_id + " (" + r.task + ", " + (r.split || "default split") + ", " + r.n +
        " samples) \u2014 " + r.components;
    }).join("  |  ");
  }
  function controls() {
    var side = document.getElementById("f-side");
    D.runs.forEach(function (r, i) { side.appendChild(el("option", { value: String(i) }, r.label)); });
    if (!PAIR) document.getElementById("l-side").style.display = "none";
    var qt = document.getElementById("f-qtype");
    D.qtypes.forEach(function (t) { qt.appendChild(el("option", { value: t }, t)); });
    var pair = document.getElementById("f-pair");
    if (PAIR) {
      var counts = { a: 0, b: 0, both: 0, neither: 0 };
      D.samples.forEach(function (s) { if (s.pc) counts[s.pc] += 1; });
      [["all", "all"], ["a", "A right, B wrong"], ["b", "A wrong, B right"], ["both", "both right"],
       ["neither", "both wrong"]].forEach(function (o) {
        pair.appendChild(el("option", { value: o[0], "data-count": o[0] === "all" ? null : String(counts[o[0]]) },
                            o[1] + (o[0] === "all" ? "" : " (" + counts[o[0]] + ")")));
      });
    } else { document.getElementById("l-pair").style.display = "none"; }
    function bind(id, key, checkbox) {
      document.getElementById(id).addEventListener(checkbox ? "change" : "input", function (e) {
        state[key] = checkbox ? (e.target.checked ? "1" : "0") : e.target.value;
        state.page = "1"; RH.writeHash(state); render();
      });
    }
    bind("f-outcome", "outcome"); bind("f-side", "side"); bind("f-qtype", "qtype"); bind("f-gold", "gold");
    bind("f-pair", "pair"); bind("f-q", "q"); bind("f-filtered", "filtered", true); bind("f-errors", "errors", true);
    window.addEventListener("hashchange", function () { state = RH.readHash(DEFAULTS); render(); });
  }
  var T1 = performance.now();
  summary();
  controls();
  render();
  document.body.setAttribute("data-first-page-ms", String(Math.round(performance.now())));
  document.body.setAttribute("data-timing", [T0, T1, performance.now()].map(Math.round).join(","));
  document.body.setAttribute("data-rendered", "1");
})();
