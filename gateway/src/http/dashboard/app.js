// The dashboard's script: fetches /dashboard/data with the admin key and draws it as inline
// SVG. Every value from the log reaches the page through textContent or setAttribute, never
// as markup (the CSP's Trusted Types would refuse any HTML sink anyway).
"use strict";

(() => {
  const SVG = "http://www.w3.org/2000/svg";
  const KEY_STORE = "switchyard-admin-key";
  const REFRESH_MS = 30000;
  const PALETTE = ["#2d6cdf", "#e8833a", "#3aa76d", "#a05ad8", "#d64f7a", "#1aa3b8",
    "#b8a21a", "#7a5230"];
  const FIXED = { other: "#9aa3b1", cache: "#58c4a8" };
  const $ = (id) => document.getElementById(id);

  // A `#key=…` fragment (never sent to the server) is moved into sessionStorage and out of
  // the address bar and history.
  function takeFragmentKey() {
    const m = /^#(?:.*&)?key=([^&]*)/.exec(location.hash);
    if (m) {
      try { sessionStorage.setItem(KEY_STORE, decodeURIComponent(m[1])); } catch (_) { /* private mode */ }
      history.replaceState(null, "", location.pathname + location.search);
    }
  }

  function storedKey() {
    try { return sessionStorage.getItem(KEY_STORE); } catch (_) { return null; }
  }

  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function svg(tag, attrs, text) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

  const fmtInt = (n) => (n ?? 0).toLocaleString("en-US");
  function fmtUsd(v) {
    if (v === null || v === undefined) return "–";
    const a = Math.abs(v);
    if (a === 0) return "$0";
    if (a < 0.01) return "$" + v.toPrecision(2);
    return "$" + v.toFixed(a < 100 ? 2 : 0);
  }
  const fmtPct = (v) => (v === null || v === undefined ? "–" : (100 * v).toFixed(1) + "%");
  function fmtMs(v) {
    if (v === null || v === undefined) return "–";
    if (v >= 1000) return (v / 1000).toFixed(2) + " s";
    return (v < 10 ? v.toFixed(1) : Math.round(v)) + " ms";
  }
  function fmtTime(ms, spanMs) {
    const d = new Date(ms);
    if (spanMs <= 15 * 60 * 1000) return d.toTimeString().slice(0, 8);
    const hm = d.toTimeString().slice(0, 5);
    if (spanMs <= 36 * 3600 * 1000) return hm;
    return (d.getMonth() + 1) + "/" + d.getDate() + " " + hm;
  }

  function status(text, isError) {
    const s = $("status");
    s.textContent = text;
    s.className = isError ? "error" : "";
  }

  function niceMax(v) {
    if (!(v > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }

  // The frame of a time chart: y grid with labels, x labels at both ends and the middle.
  // Returns the plotting functions.
  function frame(node, data, yMax, yFmt) {
    clear(node);
    const vb = node.viewBox.baseVal;
    const W = vb.width, H = vb.height;
    const L = 62, R = 10, T = 10, B = 22;
    const n = data.buckets.length;
    const x = (i) => L + (W - L - R) * (i / Math.max(n, 1));
    const y = (v) => T + (H - T - B) * (1 - v / yMax);
    for (let k = 0; k <= 4; k++) {
      const v = (yMax * k) / 4;
      node.appendChild(svg("line", { class: "grid", x1: L, x2: W - R, y1: y(v), y2: y(v) }));
      node.appendChild(svg("text", { class: "axis-label", x: L - 6, y: y(v) + 4, "text-anchor": "end" }, yFmt(v)));
    }
    const span = data.window.until_ms - data.window.since_ms;
    for (const [i, anchor] of [[0, "start"], [Math.floor(n / 2), "middle"], [n, "end"]]) {
      const ms = data.window.since_ms + i * data.window.bucket_ms;
      node.appendChild(svg("text", { class: "axis-label", x: x(i), y: H - 6, "text-anchor": anchor }, fmtTime(ms, span)));
    }
    return { x, y, W, H, L, R, T, B, n, bw: (W - L - R) / Math.max(n, 1) };
  }

  function legend(node, items) {
    clear(node);
    for (const { name, color, value } of items) {
      const span = el("span");
      const sw = svg("svg", { width: 12, height: 12, "aria-hidden": "true" });
      sw.appendChild(svg("rect", { width: 12, height: 12, rx: 2, fill: color }));
      span.appendChild(sw);
      span.appendChild(document.createTextNode(value === undefined ? name : name + ": " + value));
      node.appendChild(span);
    }
  }

  function emptyNote(node, f, text) {
    node.appendChild(svg("text", { class: "empty", x: (f.W + f.L) / 2, y: f.H / 2, "text-anchor": "middle" }, text));
  }

  function stackedBars(node, legendNode, data, series, colorOf) {
    const totals = data.buckets.map((_, i) => series.reduce((s, ser) => s + (ser.values[i] || 0), 0));
    // Counts: a whole-number step between the grid's five lines.
    const step = Math.max(1, Math.ceil(niceMax(Math.max(0, ...totals)) / 4));
    const f = frame(node, data, 4 * step, (v) => fmtInt(Math.round(v)));
    if (totals.every((t) => t === 0)) emptyNote(node, f, "No requests in this window");
    const base = new Array(f.n).fill(0);
    series.forEach((ser, s) => {
      const color = colorOf(ser, s);
      ser.values.forEach((v, i) => {
        if (!v) return;
        const top = base[i] + v;
        const r = svg("rect", {
          class: "bar", "data-series": ser.name, x: f.x(i) + 1, width: Math.max(f.bw - 2, 1),
          y: f.y(top), height: Math.max(f.y(base[i]) - f.y(top), 0.5), fill: color,
        });
        r.appendChild(svg("title", {}, ser.name + ": " + fmtInt(v)));
        node.appendChild(r);
        base[i] = top;
      });
    });
    legend(legendNode, series.map((ser, s) => ({
      name: ser.name, color: colorOf(ser, s), value: fmtInt(ser.values.reduce((a, b) => a + b, 0)),
    })));
  }

  function lines(node, legendNode, data, series, yFmt) {
    const all = series.flatMap((s) => s.values.filter((v) => v !== null && v !== undefined));
    const f = frame(node, data, niceMax(Math.max(0, ...all)), yFmt);
    if (all.length === 0) emptyNote(node, f, "No data in this window");
    for (const ser of series) {
      let d = "";
      let pen = "M";
      ser.values.forEach((v, i) => {
        if (v === null || v === undefined) { pen = "M"; return; }
        d += pen + (f.x(i) + f.bw / 2).toFixed(1) + "," + f.y(v).toFixed(1) + " ";
        pen = "L";
        node.appendChild(svg("circle", {
          class: "point", "data-series": ser.name, cx: f.x(i) + f.bw / 2, cy: f.y(v), r: 2.5, fill: ser.color,
        }));
      });
      if (d) node.appendChild(svg("path", { class: "line", "data-series": ser.name, d, stroke: ser.color }));
    }
    legend(legendNode, series.map((s) => ({ name: s.name, color: s.color, value: s.label })));
  }

  function tile(label, value, sub) {
    const t = el("div", { class: "tile" });
    t.appendChild(el("div", { class: "label" }, label));
    t.appendChild(el("div", { class: "value" }, value));
    if (sub) t.appendChild(el("div", { class: "sub" }, sub));
    return t;
  }

  function drawTiles(d) {
    const t = d.totals, c = d.counterfactual, tiles = $("tiles");
    clear(tiles);
    const hits = t.cache_exact + t.cache_semantic + t.cache_coalesced;
    tiles.appendChild(tile("Requests", fmtInt(t.requests), fmtInt(t.ok) + " ok, " + fmtInt(t.requests - t.ok) + " failed or refused"));
    tiles.appendChild(tile("Spend", fmtUsd(t.cost_usd), fmtInt(c.input_tokens) + " in / " + fmtInt(c.output_tokens) + " out tokens"));
    tiles.appendChild(tile("Always the best", c.best ? fmtUsd(c.best.cost_usd) : "–", c.best ? c.best.model : "no live candidate"));
    tiles.appendChild(tile("Always the cheapest", c.cheapest ? fmtUsd(c.cheapest.cost_usd) : "–", c.cheapest ? c.cheapest.model : "no live candidate"));
    tiles.appendChild(tile("Latency p50 / p90 / p99", fmtMs(d.latency.p50_ms), fmtMs(d.latency.p90_ms) + " / " + fmtMs(d.latency.p99_ms)));
    tiles.appendChild(tile("Fallback share", fmtPct(t.fallback_share), fmtInt(t.static_fallbacks) + " of " + fmtInt(t.routed) + " routed; " + fmtInt(t.failovers) + " failovers"));
    tiles.appendChild(tile("Cache hits", fmtInt(hits), fmtInt(t.cache_exact) + " exact, " + fmtInt(t.cache_semantic) + " semantic, " + fmtInt(t.cache_coalesced) + " coalesced; saved " + fmtUsd(t.cache_saved_usd)));
  }

  function cumulative(values) {
    let sum = 0;
    return values.map((v) => (sum += v || 0));
  }

  function drawCharts(d) {
    const mix = d.mix.series.map((s) => ({ name: s.model, values: s.requests }));
    let next = 0;
    const colors = new Map();
    stackedBars($("chart-mix"), $("legend-mix"), d, mix, (ser) => {
      if (FIXED[ser.name]) return FIXED[ser.name];
      if (!colors.has(ser.name)) colors.set(ser.name, PALETTE[next++ % PALETTE.length]);
      return colors.get(ser.name);
    });

    const c = d.counterfactual;
    const cost = [{ name: "actual", color: "#2d6cdf", values: cumulative(d.buckets.map((b) => b.priced.cost_usd)), label: fmtUsd(c.actual_usd) }];
    if (c.best) cost.push({ name: "always " + c.best.model, color: "#d64f7a", values: cumulative(d.buckets.map((b) => b.best_usd)), label: fmtUsd(c.best.cost_usd) });
    if (c.cheapest) cost.push({ name: "always " + c.cheapest.model, color: "#3aa76d", values: cumulative(d.buckets.map((b) => b.cheapest_usd)), label: fmtUsd(c.cheapest.cost_usd) });
    lines($("chart-cost"), $("legend-cost"), d, cost, fmtUsd);
    $("cost-note").textContent = "Priced on the " + fmtInt(c.requests) + " requests a model answered with token counts: "
      + "each counterfactual sends every one of them to one live candidate with the same input and output tokens, at catalog prices. "
      + (c.best ? "Best = highest catalog quality prior (" + c.best.model + "). " : "")
      + (c.cheapest ? "Cheapest = lowest cost on these tokens (" + c.cheapest.model + "). " : "")
      + "Another model would answer with other lengths, retries and cache hits, so these are estimates, not bills.";

    const lat = (k) => d.buckets.map((b) => b.latency[k]);
    lines($("chart-latency"), $("legend-latency"), d, [
      { name: "p50", color: "#2d6cdf", values: lat("p50_ms"), label: fmtMs(d.latency.p50_ms) },
      { name: "p90", color: "#e8833a", values: lat("p90_ms"), label: fmtMs(d.latency.p90_ms) },
      { name: "p99", color: "#c23b3b", values: lat("p99_ms"), label: fmtMs(d.latency.p99_ms) },
    ], fmtMs);

    const ev = [
      { name: "exact hits", key: "cache_exact", color: "#58c4a8" },
      { name: "semantic hits", key: "cache_semantic", color: "#1aa3b8" },
      { name: "coalesced", key: "cache_coalesced", color: "#a05ad8" },
      { name: "static fallbacks", key: "static_fallbacks", color: "#e8833a" },
    ].map((s) => ({ name: s.name, color: s.color, values: d.buckets.map((b) => b[s.key]) }));
    stackedBars($("chart-events"), $("legend-events"), d, ev, (ser) => ser.color);
  }

  function row(cells) {
    const tr = el("tr");
    for (const [text, cls] of cells) tr.appendChild(el("td", cls ? { class: cls } : {}, text));
    return tr;
  }

  function drawTables(d) {
    const keys = $("keys").tBodies[0];
    clear(keys);
    for (const k of d.keys) {
      const tr = row([[k.key_id ?? "(no key)"], [k.name ?? ""], [fmtInt(k.requests), "num"],
        [fmtInt(k.input_tokens), "num"], [fmtInt(k.output_tokens), "num"], [fmtUsd(k.cost_usd), "num"]]);
      tr.className = "key-row";
      keys.appendChild(tr);
    }
    if (d.keys.length === 0) keys.appendChild(row([["No requests in this window"]]));

    const notes = { full: "prompts shown as logged ([log] privacy = \"full\")",
      hashed: "prompts as SHA-256 only ([log] privacy = \"hashed\")", none: "no prompts kept ([log] privacy = \"none\")" };
    $("privacy-note").textContent = notes[d.privacy] || "";
    const recent = $("recent").tBodies[0];
    clear(recent);
    const span = d.window.until_ms - d.window.since_ms;
    for (const r of d.recent) {
      const decision = r.requested_model === "auto" ? (r.reason ?? "–") : (r.reason ? "pinned" : "–");
      const p = r.prompt;
      let prompt = "", pcls = "prompt";
      if (p && p.kind === "full") prompt = p.text + (p.truncated ? " …" : "");
      else if (p && p.kind === "hashed") { prompt = "sha256 " + p.sha256.slice(0, 16) + "…"; pcls = "hash"; }
      else if (p && p.kind === "withheld") { prompt = "(withheld by privacy setting)"; pcls = "hash"; }
      const tokens = r.input_tokens == null && r.output_tokens == null
        ? "" : fmtInt(r.input_tokens) + " / " + fmtInt(r.output_tokens);
      const tr = row([
        [fmtTime(r.timestamp_ms, Math.min(span, 86400000))],
        [r.key_name ?? r.key_id ?? ""],
        [r.requested_model ?? ""],
        [decision + (r.requested_model === "auto" && r.chosen && r.chosen !== r.model ? ", chose " + r.chosen : "")
          + (r.attempts > 1 ? ", " + r.attempts + " attempts" : "")],
        [r.model ?? "–"],
        [r.status, r.status === "ok" ? "" : "bad"],
        [r.cache ?? ""],
        [fmtInt(Math.round(r.latency_ms)), "num"],
        [fmtUsd(r.cost_usd), "num"],
        [tokens, "num"],
        [prompt, pcls],
      ]);
      tr.className = "recent-row";
      tr.setAttribute("data-request-id", r.request_id);
      recent.appendChild(tr);
    }
    if (d.recent.length === 0) recent.appendChild(row([["No requests in this window"]]));
  }

  function askForKey(reason) {
    $("board").hidden = true;
    $("login").hidden = false;
    $("login-reason").textContent = reason;
    $("admin-key").focus();
  }

  let timer = null;
  async function load() {
    const key = storedKey();
    const win = $("window").value;
    const headers = key ? { Authorization: "Bearer " + key } : {};
    status("Loading…");
    let resp;
    try {
      resp = await fetch("/dashboard/data?window=" + encodeURIComponent(win), { headers, cache: "no-store" });
    } catch (e) {
      status("Gateway unreachable: " + e.message, true);
      return;
    }
    $("forget").hidden = !key;
    if (resp.status === 401 || resp.status === 404) {
      let message = "";
      try { message = (await resp.json()).error.message; } catch (_) { /* not JSON */ }
      status(resp.status === 401 ? "Admin key needed" : "Dashboard data is off", true);
      askForKey(resp.status === 401 ? (key ? "That key was refused." : "This gateway needs its admin key.")
        : "This gateway serves dashboard data only with [admin] configured (" + message + ").");
      return;
    }
    if (!resp.ok) {
      let message = resp.statusText;
      try { message = (await resp.json()).error.message; } catch (_) { /* not JSON */ }
      status("Error " + resp.status + ": " + message, true);
      return;
    }
    const d = await resp.json();
    $("login").hidden = true;
    $("board").hidden = false;
    drawTiles(d);
    drawCharts(d);
    drawTables(d);
    document.body.setAttribute("data-loaded", "true");
    status("Updated " + new Date().toLocaleTimeString());
  }

  function schedule() {
    clearInterval(timer);
    timer = setInterval(() => { if (document.visibilityState === "visible") load(); }, REFRESH_MS);
  }

  document.addEventListener("DOMContentLoaded", () => {
    takeFragmentKey();
    const asked = new URLSearchParams(location.search).get("window");
    // Any window the server takes (`?window=15m`) is offered beside the usual ones.
    if (asked && /^[0-9a-z ]{1,20}$/.test(asked)) {
      if (![...$("window").options].some((o) => o.value === asked)) {
        $("window").appendChild(el("option", { value: asked }, "last " + asked));
      }
      $("window").value = asked;
    }
    $("window").addEventListener("change", load);
    $("refresh").addEventListener("click", load);
    $("forget").addEventListener("click", () => {
      try { sessionStorage.removeItem(KEY_STORE); } catch (_) { /* private mode */ }
      askForKey("Key forgotten.");
      $("forget").hidden = true;
    });
    $("login").addEventListener("submit", (e) => {
      e.preventDefault();
      try { sessionStorage.setItem(KEY_STORE, $("admin-key").value); } catch (_) { /* private mode */ }
      $("admin-key").value = "";
      load();
    });
    load();
    schedule();
  });
})();
