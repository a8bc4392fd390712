// Bar, line and pie charts drawn as SVG by our own code (no chart library to fetch), each with its numbers
// in a table beside it, so a reader who cannot see the chart reads the same figures.

import { h, table } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";
const PALETTE = ["#1d5fbf", "#b3261e", "#1e7b34", "#8a6100", "#6b3fa0", "#00838f", "#c2185b", "#5d4037", "#455a64", "#7cb342", "#f57c00"];

function s(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "text") node.textContent = value;
    else if (value !== undefined && value !== null) node.setAttribute(name, value);
  }
  for (const child of children.flat()) if (child) node.append(child);
  return node;
}

function frame(title, width, height, body, rows, format) {
  const svg = s("svg", { class: "chart", viewBox: `0 0 ${width} ${height}`, width, height, role: "img", "aria-label": title }, s("title", { text: title }), body);
  const numbers = table(
    [
      ["项目", (r) => (r.href ? h("a", { href: r.href, text: r.label }) : r.label)],
      ["数值", (r) => h("span", { class: "num", dataset: { value: String(r.value) }, text: format(r.value) })],
    ],
    rows,
    { caption: title, emptyText: "本期没有数据" },
  );
  return h("figure", { class: "panel chart-box", dataset: { chart: title } }, h("figcaption", { text: title }), rows.length ? svg : null, numbers);
}

// Horizontal bars, one per row ({label, value, href?}).
export function bars(title, rows, format = String) {
  const width = 460;
  const rowHeight = 26;
  const height = Math.max(40, rows.length * rowHeight + 10);
  const max = Math.max(1e-9, ...rows.map((r) => r.value || 0));
  const labelWidth = 150;
  const body = rows.map((r, i) => {
    const y = 5 + i * rowHeight;
    const length = ((r.value || 0) / max) * (width - labelWidth - 60);
    return s(
      "g",
      { "data-label": r.label, "data-value": String(r.value) },
      s("text", { x: labelWidth - 6, y: y + 16, "text-anchor": "end", text: r.label.length > 11 ? `${r.label.slice(0, 10)}…` : r.label }),
      s("rect", { class: "bar", x: labelWidth, y: y + 3, width: Math.max(1, length), height: rowHeight - 8 }),
      s("text", { x: labelWidth + length + 6, y: y + 16, text: format(r.value) }),
    );
  });
  return frame(title, width, height, body, rows, format);
}

// A line over periods ({label, value}); a period without a value leaves a gap.
export function line(title, points, format = String) {
  const width = 460;
  const height = 200;
  const left = 48;
  const bottom = 30;
  const values = points.map((p) => p.value).filter((v) => v !== null && v !== undefined);
  const max = Math.max(1e-9, ...values);
  const x = (i) => left + (i * (width - left - 20)) / Math.max(1, points.length - 1);
  const y = (v) => height - bottom - (v / max) * (height - bottom - 20);
  const path = points
    .map((p, i) => (p.value === null || p.value === undefined ? null : `${x(i)},${y(p.value)}`))
    .filter(Boolean)
    .join(" ");
  const body = [
    s("line", { class: "axis", x1: left, y1: height - bottom, x2: width - 10, y2: height - bottom }),
    s("polyline", { class: "line", points: path }),
    points.map((p, i) =>
      s(
        "g",
        { "data-label": p.label, "data-value": String(p.value) },
        p.value === null || p.value === undefined ? null : s("circle", { class: "dot", cx: x(i), cy: y(p.value), r: 3 }),
        p.value === null || p.value === undefined ? null : s("text", { x: x(i), y: y(p.value) - 8, "text-anchor": "middle", text: format(p.value) }),
        s("text", { x: x(i), y: height - 10, "text-anchor": "middle", text: p.label }),
      ),
    ),
  ];
  return frame(title, width, height, body, points, (v) => (v === null || v === undefined ? "—" : format(v)));
}

// A pie of shares ({label, value}), with a legend.
export function pie(title, rows, format = String) {
  const size = 200;
  const r = 90;
  const total = rows.reduce((sum, row) => sum + (row.value || 0), 0);
  let angle = -Math.PI / 2;
  const slices = rows.map((row, i) => {
    const share = total ? (row.value || 0) / total : 0;
    const start = angle;
    angle += share * 2 * Math.PI;
    const large = share > 0.5 ? 1 : 0;
    const [x1, y1, x2, y2] = [Math.cos(start), Math.sin(start), Math.cos(angle), Math.sin(angle)].map((v) => size / 2 + r * v);
    const shape =
      share >= 0.9999
        ? s("circle", { cx: size / 2, cy: size / 2, r, fill: PALETTE[i % PALETTE.length] })
        : s("path", { d: `M${size / 2},${size / 2} L${x1},${y1} A${r},${r} 0 ${large} 1 ${x2},${y2} Z`, fill: PALETTE[i % PALETTE.length] });
    return s("g", { "data-label": row.label, "data-value": String(row.value) }, s("title", { text: `${row.label}：${format(row.value)}` }), shape);
  });
  const figure = frame(title, size, size, slices, rows, format);
  const legend = h(
    "ul",
    { class: "legend" },
    rows.map((row, i) => {
      const swatch = h("i", {});
      swatch.style.background = PALETTE[i % PALETTE.length];
      return h("li", {}, swatch, row.label);
    }),
  );
  figure.querySelector("figcaption").after(legend);
  return figure;
}
