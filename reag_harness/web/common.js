/* Shared by the leaderboard page and the run viewer: DOM helper, page data, URL-hash state, search. */
var RH = (function () {
  "use strict";
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (attrs[k] !== null && attrs[k] !== undefined) e.setAttribute(k, attrs[k]);
    });
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }
  function data() { return JSON.parse(document.getElementById("page-data").textContent); }
  function readHash(defaults) {
    var raw = (location.hash || "").replace(/^#/, "") || (location.search || "").replace(/^\?/, "");
    var q = new URLSearchParams(raw), s = {};
    Object.keys(defaults).forEach(function (k) { s[k] = q.has(k) ? q.get(k) : defaults[k]; });
    return s;
  }
  function writeHash(state) {
    try { history.replaceState(null, "", "#" + new URLSearchParams(state).toString()); } catch (e) { /* file:// */ }
  }
  /* Every word of the query occurs in the text (case-insensitive). */
  function matches(text, query) {
    var t = (text || "").toLowerCase();
    return (query || "").toLowerCase().split(/\s+/).filter(Boolean).every(function (w) { return t.indexOf(w) >= 0; });
  }
  function fmt(v, digits) {
    if (v === null || v === undefined || v === "") return "\u2013";
    if (typeof v !== "number") return String(v);
    var d = digits === undefined ? 2 : digits;
    return Math.abs(v - Math.round(v * 10) / 10) < 1e-9 ? v.toFixed(1) : String(Math.round(v * Math.pow(10, d)) / Math.pow(10, d));
  }
  /* An http(s) URL or a relative path (no scheme, no //host), else null: links never run code. */
  function safeHref(href) {
    var h = String(href === null || href === undefined ? "" : href);
    if (!h || h !== h.trim() || /[\u0000-\u001f\u007f]/.test(h)) return null;
    if (/^https?:\/\//i.test(h)) return h;
    if (/^[a-z][a-z0-9+.\-]*:/i.test(h) || /^[\/\\]{2}/.test(h)) return null;
    return h;
  }
  function link(href, text, title) {
    var safe = safeHref(href);
    if (safe === null) return el("span", { title: "link left out (not http(s) or a relative path)" }, text);
    return el("a", { href: safe, title: title || safe }, text);
  }
  return { el: el, data: data, readHash: readHash, writeHash: writeHash, matches: matches, fmt: fmt, link: link,
           safeHref: safeHref };
})();
