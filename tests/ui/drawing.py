"""What a page draws on its canvases, recorded for tests (an init script)."""

# Records what the page draws on canvases: text (with its left edge after alignment) and
# filled rectangles (stage bands), so a test can check where a label really lands.
RECORD_DRAWING = """
window.__draws = [];
const P = CanvasRenderingContext2D.prototype;
const fillText = P.fillText, fillRect = P.fillRect, fill = P.fill;
P.fill = function (...args) {
  window.__draws.push({op: "fill", fill: String(this.fillStyle),
    chart: this.canvas.closest("[data-chart]")?.dataset.key});
  return fill.apply(this, args);
};
P.fillText = function (text, x, y, ...rest) {
  const w = this.measureText(text).width;
  const a = this.textAlign;
  const left = a === "right" || a === "end" ? x - w : a === "center" ? x - w / 2 : x;
  window.__draws.push({op: "text", text: String(text), left, right: left + w,
    chart: this.canvas.closest("[data-chart]")?.dataset.key});
  return fillText.call(this, text, x, y, ...rest);
};
P.fillRect = function (x, y, w, h) {
  window.__draws.push({op: "rect", left: x, right: x + w, fill: String(this.fillStyle),
    chart: this.canvas.closest("[data-chart]")?.dataset.key});
  return fillRect.call(this, x, y, w, h);
};
"""
