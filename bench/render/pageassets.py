"""The report page's stylesheet and script, inline in the page (it must work offline, as one
file). Light and dark themes follow the reader's ``prefers-color-scheme``; print drops the
navigation and opens every collapsed section; the script only adds what a static page cannot:
legend buttons that hide and show a model, a tooltip with the value under the pointer, and
opening the collapsed sections before printing."""

from __future__ import annotations

STYLE = """
:root {
  color-scheme: light dark;
  --bg: #fbfbfa; --fg: #1d1f21; --muted: #5c6166; --line: #d9dcdf; --panel: #ffffff;
  --head: #f0f1f2; --accent: #1f5fa8; --grid: #e6e8ea; --frame: #c4c8cc;
  --cell-l: 90%; --cell-s: 70%; --tip-bg: #1d1f21; --tip-fg: #ffffff;
  font-size: 16px;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #16181b; --fg: #e4e6e8; --muted: #a0a6ad; --line: #33383e; --panel: #1d2024;
    --head: #24282d; --accent: #7fb2f0; --grid: #2b3036; --frame: #4a5058;
    --cell-l: 27%; --cell-s: 45%; --tip-bg: #f0f1f2; --tip-fg: #16181b;
  }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg); line-height: 1.5;
       font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif; }
a { color: var(--accent); }
h1 { font-size: 1.75rem; line-height: 1.2; margin: 0.8rem 0 0.1rem; }
h2 { font-size: 1.35rem; line-height: 1.25; margin: 2.2rem 0 0.6rem; padding-bottom: 0.2rem;
     border-bottom: 1px solid var(--line); }
h3 { font-size: 1.1rem; margin: 1.4rem 0 0.4rem; }
p, li { max-width: 72rem; }
.note, figcaption, .files { color: var(--muted); font-size: 0.875rem; }
.layout { display: grid; grid-template-columns: 9rem minmax(0, 1fr); gap: 1.25rem;
          max-width: 96rem; margin: 0 auto; padding: 0 1rem 3rem; }
nav.toc { position: sticky; top: 0; align-self: start; max-height: 100vh; overflow-y: auto;
          padding: 1rem 0; font-size: 0.875rem; }
nav.toc strong { display: block; margin-bottom: 0.4rem; }
nav.toc ol { list-style: none; margin: 0; padding: 0; }
nav.toc li { margin: 0.15rem 0; }
nav.toc ol ol { padding-left: 0.8rem; font-size: 0.8125rem; }
nav.toc a { color: var(--fg); text-decoration: none; }
nav.toc a:hover { color: var(--accent); text-decoration: underline; }
main { min-width: 0; }
.files { margin: 0 0 0.6rem; padding: 0; list-style: none; }
.files li { display: inline; margin-right: 1.2rem; }
section#overview h2, section#findings h2 { margin-top: 0.5rem; font-size: 1.2rem; }
table { border-collapse: collapse; font-size: 0.875rem; margin: 0.4rem 0 1rem; }
th, td { border: 1px solid var(--line); padding: 0.2rem 0.45rem; text-align: right;
         vertical-align: top; }
th { background: var(--head); font-weight: 600; }
th:first-child, td:first-child { text-align: left; }
tr.differs td { background: hsl(45 90% var(--cell-l)); }
.scroll { overflow-x: auto; max-width: 100%; }
table.grid { font-size: 0.78rem; line-height: 1.3; margin: 0.2rem 0 0.3rem; }
table.grid td, table.grid th { padding: 0.08rem 0.3rem; white-space: nowrap; }
table.grid th.model { border-bottom: 3px solid var(--c); }
table.grid td.label { text-align: left; padding-left: 1rem; }
table.grid td.label.first { padding-left: 0.4rem; }
table.grid tr:has(td.first) td { border-top: 2px solid var(--frame); }
table.grid td.cost { background: hsl(var(--h) var(--cell-s) var(--cell-l)); }
table.grid td.cost b { font-size: 0.8125rem; }
table.grid td.cost i { font-style: normal; text-decoration: underline dotted; }
table.grid td.cost small { color: var(--muted); margin-left: 0.2rem; font-size: 0.6875rem; }
table.grid td.best { outline: 2px solid var(--fg); outline-offset: -2px; }
table.grid td.none { color: var(--muted); text-align: center; }
.scale { display: flex; gap: 0.2rem; align-items: center; font-size: 0.8125rem;
         color: var(--muted); margin: 0.2rem 0; flex-wrap: wrap; }
.scale + .note { margin: 0.1rem 0 0; }
.scale span.step { padding: 0 0.4rem; color: var(--fg);
                   background: hsl(var(--h) var(--cell-s) var(--cell-l)); }
ol.headlines { padding-left: 1.4rem; margin: 0.3rem 0; }
ol.headlines li { margin: 0.25rem 0; }
details { margin: 0.5rem 0; border: 1px solid var(--line); border-radius: 4px;
          background: var(--panel); padding: 0 0.8rem; }
details[open] { padding-bottom: 0.6rem; }
summary { cursor: pointer; padding: 0.45rem 0; font-weight: 600; }
figure.chart { margin: 1.2rem 0 2rem; }
figure.chart h3 { margin-top: 0; }
.legend { display: flex; flex-wrap: wrap; gap: 0.35rem; margin: 0.2rem 0 0.6rem; }
button.key { font: inherit; font-size: 0.875rem; display: inline-flex; align-items: center;
             gap: 0.35rem; padding: 0.1rem 0.55rem; border: 1px solid var(--line);
             border-radius: 999px; background: var(--panel); color: var(--fg); cursor: pointer; }
button.key[aria-pressed="false"] { opacity: 0.45; text-decoration: line-through; }
.swatch { width: 0.8rem; height: 0.8rem; border-radius: 50%; display: inline-block; }
.panels { display: flex; flex-wrap: wrap; gap: 1rem 1.5rem; }
.panel { max-width: 100%; }
.panel-title { font-size: 0.875rem; font-weight: 600; max-width: 460px; }
svg.plot { display: block; max-width: 100%; height: auto; background: var(--panel);
           font-family: inherit; }
svg .frame { fill: none; stroke: var(--frame); }
svg .grid { stroke: var(--grid); }
svg .axis-line { stroke: var(--frame); }
svg .level { stroke: var(--muted); stroke-dasharray: 2 3; }
svg .tick, svg .level-text { font-size: 11px; fill: var(--muted); }
svg .axis { font-size: 12px; fill: var(--fg); }
svg .bar-label { font-size: 12px; fill: var(--fg); }
svg .value { font-size: 11px; fill: var(--fg); }
svg .value.inside { fill: #fff; font-weight: 600; }
svg .series .line { fill: none; stroke: var(--c); stroke-width: 2; }
svg .series .dot { fill: var(--c); stroke: var(--panel); stroke-width: 1; cursor: crosshair; }
svg .series .dot.hollow { fill: var(--panel); stroke: var(--c); stroke-width: 2; }
svg .series .bar { fill: var(--c); cursor: crosshair; }
svg .series .bar.later { fill-opacity: 0.5; stroke: var(--c); }
svg .series .whisker { stroke: var(--fg); stroke-opacity: 0.6; stroke-width: 1.2; }
svg .series .cross { stroke: var(--c); stroke-width: 2.5; fill: none; }
svg .series.off { display: none; }
svg .series .dot:hover, svg .series .bar:hover { stroke: var(--fg); stroke-width: 2; }
#tip { position: fixed; z-index: 10; max-width: 26rem; padding: 0.3rem 0.55rem;
       border-radius: 4px; background: var(--tip-bg); color: var(--tip-fg);
       font-size: 0.8125rem; pointer-events: none; }
#tip[hidden] { display: none; }
@media (max-width: 900px) {
  .layout { display: block; }
  nav.toc { position: static; max-height: none; }
}
@media print {
  :root { --bg: #fff; --fg: #000; --panel: #fff; font-size: 11pt; }
  nav.toc, .legend, #tip { display: none; }
  .layout { display: block; max-width: none; padding: 0; }
  details { border: none; padding: 0; }
  summary { list-style: none; }
  figure.chart, table, .panel { break-inside: avoid; }
  h2, h3 { break-after: avoid; }
  a { color: inherit; text-decoration: none; }
}
"""

SCRIPT = """
(() => {
  const tip = document.createElement("div");
  tip.id = "tip";
  tip.hidden = true;
  tip.setAttribute("role", "tooltip");
  document.body.append(tip);
  const target = (node) => node.closest && node.closest("svg .dot, svg .bar, svg .cross");
  document.addEventListener("mouseover", (event) => {
    const mark = target(event.target);
    if (!mark) { tip.hidden = true; return; }
    const title = mark.querySelector(":scope > title");
    if (title) {
      // One tooltip, not the browser's as well: the title moves to data-tip and aria-label.
      mark.dataset.tip = title.textContent;
      mark.setAttribute("aria-label", title.textContent);
      title.remove();
    }
    tip.textContent = mark.dataset.tip || "";
    tip.hidden = !tip.textContent;
  });
  document.addEventListener("mousemove", (event) => {
    if (tip.hidden) return;
    const x = Math.min(event.clientX + 14, window.innerWidth - tip.offsetWidth - 8);
    const y = event.clientY + 18 + tip.offsetHeight > window.innerHeight
      ? event.clientY - tip.offsetHeight - 10 : event.clientY + 18;
    tip.style.left = Math.max(4, x) + "px";
    tip.style.top = Math.max(4, y) + "px";
  });
  document.addEventListener("click", (event) => {
    const key = event.target.closest && event.target.closest("button.key");
    if (!key) return;
    const shown = key.getAttribute("aria-pressed") !== "true";
    key.setAttribute("aria-pressed", String(shown));
    const figure = key.closest("figure");
    for (const series of figure.querySelectorAll(".series")) {
      if (series.dataset.series === key.dataset.series) series.classList.toggle("off", !shown);
    }
  });
  window.addEventListener("beforeprint", () => {
    for (const details of document.querySelectorAll("details")) details.open = true;
  });
})();
"""
