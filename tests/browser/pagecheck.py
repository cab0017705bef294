"""Checks run inside the page: accessibility basics (labels, headings, names, text contrast, keyboard focus),
horizontal overflow, and reading the board's table.

Contrast follows WCAG 2.x: relative luminance of sRGB colours, ratio (L1 + 0.05) / (L2 + 0.05), at least 4.5
for normal text and 3 for large text (≥ 24 px, or ≥ 18.66 px bold). The background of a text is the first
opaque background among its ancestors (semi-transparent ones are blended over it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from playwright.sync_api import Page

A11Y_SCRIPT = r"""
() => {
  const problems = [];
  const parse = (text) => {
    let m = text.match(/^rgba?\(([^)]+)\)$/);
    if (m) { const p = m[1].split(/[ ,\/]+/).filter(Boolean).map(Number);
             return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; }
    m = text.match(/^color\(srgb ([^)]+)\)$/);
    if (m) { const p = m[1].split(/[ \/]+/).filter(Boolean).map(Number);
             return [p[0] * 255, p[1] * 255, p[2] * 255, p.length > 3 ? p[3] : 1]; }
    return null;
  };
  const blend = (top, bottom) => [0, 1, 2].map(i => top[i] * top[3] + bottom[i] * (1 - top[3])).concat([1]);
  const background = (el) => {
    const layers = [];
    for (let node = el; node && node.nodeType === 1; node = node.parentElement) {
      const c = parse(getComputedStyle(node).backgroundColor);
      if (c && c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
    }
    let colour = [255, 255, 255, 1];
    for (const layer of layers.reverse()) colour = blend(layer, colour);
    return colour;
  };
  const luminance = (c) => {
    const [r, g, b] = c.slice(0, 3).map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const ratio = (a, b) => { const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
  const visible = (el) => { const r = el.getBoundingClientRect(); const s = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none'; };
  const describe = (el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
    (el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\s+/).join('.') : '') +
    ' "' + (el.textContent || '').trim().slice(0, 40) + '"';

  // text contrast: every visible element with its own text
  const seen = new Set();
  for (const el of document.querySelectorAll('body *')) {
    if (el.closest('svg') || !visible(el)) continue;
    const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    if (!own) continue;
    const s = getComputedStyle(el);
    const fg = parse(s.color); if (!fg) continue;
    const bg = background(el);
    const size = parseFloat(s.fontSize), bold = parseInt(s.fontWeight) >= 700;
    const needed = (size >= 24 || (bold && size >= 18.66)) ? 3 : 4.5;
    const r = ratio(blend(fg, bg), bg);
    const key = describe(el).slice(0, 60) + r.toFixed(2);
    if (r < needed && !seen.has(key)) { seen.add(key); problems.push(`contrast ${r.toFixed(2)} < ${needed}: ${describe(el)}`); }
  }
  // SVG text against the page background
  for (const t of document.querySelectorAll('svg text')) {
    if (!visible(t)) continue;
    const fg = parse(getComputedStyle(t).fill); if (!fg) continue;
    const bg = background(t.closest('svg').parentElement);
    const r = ratio(blend(fg, bg), bg);
    if (r < 4.5) problems.push(`chart text contrast ${r.toFixed(2)} < 4.5: "${t.textContent.slice(0, 40)}"`);
  }
  // form controls have labels; references between elements resolve
  for (const el of document.querySelectorAll('input, select, textarea')) {
    if (['hidden', 'submit', 'button'].includes(el.type)) continue;
    if (!(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby'))
      problems.push(`form control without a label: ${el.outerHTML.slice(0, 80)}`);
  }
  // headings: one h1, no skipped levels
  const levels = [...document.querySelectorAll('h1, h2, h3, h4, h5, h6')].filter(visible).map(h => +h.tagName[1]);
  if (levels.filter(l => l === 1).length !== 1) problems.push(`expected one h1, found ${levels.filter(l => l === 1).length}`);
  levels.forEach((l, i) => { if (i > 0 && l > levels[i - 1] + 1) problems.push(`heading level skips from h${levels[i - 1]} to h${l}`); });
  // links and buttons have names; images have names
  for (const el of document.querySelectorAll('a[href], button')) {
    if (!visible(el)) continue;
    const name = (el.textContent || '').trim() || el.getAttribute('aria-label') || el.getAttribute('title');
    if (!name) problems.push(`unnamed ${el.tagName.toLowerCase()}: ${el.outerHTML.slice(0, 80)}`);
  }
  for (const el of document.querySelectorAll('[role=img], img')) {
    const ids = (el.getAttribute('aria-labelledby') || '').split(/\s+/).filter(Boolean);
    const named = el.getAttribute('alt') || el.getAttribute('aria-label') ||
      (ids.length && ids.every(id => document.getElementById(id) && document.getElementById(id).textContent.trim()));
    if (!named) problems.push(`image without an accessible name: ${el.outerHTML.slice(0, 80)}`);
  }
  for (const attr of ['aria-describedby', 'aria-labelledby', 'for']) {
    for (const el of document.querySelectorAll(`[${attr}]`)) {
      for (const id of el.getAttribute(attr).split(/\s+/).filter(Boolean))
        if (!document.getElementById(id)) problems.push(`${attr} points to no element: #${id} (${el.outerHTML.slice(0, 60)})`);
    }
  }
  if (!document.documentElement.lang) problems.push('no lang attribute on <html>');
  if (!document.title.trim()) problems.push('no <title>');
  return problems;
}
"""

OVERFLOW_SCRIPT = """
() => {
  const width = document.documentElement.clientWidth;
  const wide = [];
  for (const el of document.querySelectorAll('body *')) {
    if (el.closest('.table-wrap, .chart-wrap, pre')) continue;
    const r = el.getBoundingClientRect();
    if (r.width > 0 && r.right > width + 1) wide.push(el.tagName.toLowerCase() + ' ' + (el.className || '') +
        ' right=' + Math.round(r.right));
  }
  return {scrollWidth: document.documentElement.scrollWidth, width: width, wide: wide.slice(0, 10)};
}
"""

FOCUS_SCRIPT = """
() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const s = getComputedStyle(el), r = el.getBoundingClientRect();
  return {tag: el.tagName.toLowerCase(), text: (el.textContent || '').trim().slice(0, 60), href: el.getAttribute('href'),
          outlineStyle: s.outlineStyle, outlineWidth: parseFloat(s.outlineWidth),
          inViewport: r.width > 0 && r.height > 0 && r.left >= 0 && r.top >= 0 &&
                      r.right <= window.innerWidth && r.bottom <= window.innerHeight};
}
"""


CHART_TEXT_SCRIPT = """
() => [...document.querySelectorAll('svg.chart')].map(svg => {
  const frame = svg.getBoundingClientRect();
  const scale = frame.width / svg.viewBox.baseVal.width;
  const clipped = [], sizes = [];
  for (const t of svg.querySelectorAll('text')) {
    const r = t.getBoundingClientRect();
    sizes.push(parseFloat(getComputedStyle(t).fontSize) * scale);
    if (r.left < frame.left - 0.5 || r.right > frame.right + 0.5 || r.top < frame.top - 0.5 ||
        r.bottom > frame.bottom + 0.5) clipped.push(t.textContent);
  }
  return {title: svg.querySelector('title').textContent, width: frame.width, clipped: clipped,
          smallestTextPx: Math.min(...sizes)};
})
"""


def chart_text(page: Page) -> list[dict]:
    """Per chart: its rendered width, texts cut off by its frame, and the smallest text as rendered (px)."""
    return page.evaluate(CHART_TEXT_SCRIPT)


def a11y_problems(page: Page) -> list[str]:
    return page.evaluate(A11Y_SCRIPT)


def overflow(page: Page) -> dict:
    """The page's horizontal overflow: scroll width vs viewport width, and elements sticking out (tables and
    charts, which scroll inside their own ``.table-wrap`` / ``.chart-wrap``, excepted)."""
    return page.evaluate(OVERFLOW_SCRIPT)


def focused(page: Page) -> dict | None:
    return page.evaluate(FOCUS_SCRIPT)


NUMBER = re.compile(r"^[-\u2212]?\d+(\.\d+)?")  # the board prints negative numbers with a minus sign


@dataclass(frozen=True)
class Cell:
    value: float | None  # None = N/A
    text: str


def board_column(page: Page, heading: str) -> list[Cell]:
    """The values of the board's column whose heading starts with ``heading``, top to bottom."""
    table = page.locator("table").first
    headings = [t.strip() for t in table.locator("thead th").all_inner_texts()]
    index = next(i for i, t in enumerate(headings) if t.startswith(heading))
    cells = []
    for row in table.locator("tbody tr").all():
        text = row.locator("th, td").nth(index).inner_text().strip()
        match = NUMBER.match(text)
        cells.append(Cell(float(match.group().replace("\u2212", "-")) if match else None, text))
    return cells


def board_methods(page: Page) -> list[str]:
    return [t.strip() for t in page.locator("table").first.locator(
        "tbody th[scope=row] > a[href^='/entries/']").all_inner_texts()]
