// The dashboards' plotly figure widget: plotly's own, imported from the dashboards server (cached by the browser),
// redrawn at its column's width whenever that width changes (a window resized, a phone turned, a page drawn after
// the figure) and its title and subtitle wrapped on words to that width, never cut.
const bundle = await import(new URL("../plotly/widgetbundle.js?v=__VERSION__", document.baseURI).href);
const measure = document.createElement("canvas").getContext("2d");
// Below this width (px) a figure's legend goes under it.
const NARROW = 600;

// Words moved to a new line (<br>) before a line grows longer than maxChars.
function wrap(text, maxChars) {
  const lines = [];
  for (const word of text.split(" ")) {
    const last = lines.length ? lines[lines.length - 1] : null;
    if (last !== null && (last + " " + word).length <= maxChars) { lines[lines.length - 1] = last + " " + word; }
    else { lines.push(word); }
  }
  return lines.join("<br>");
}

// The width a title anchored at x (a share of the figure's width, plotly's « auto » anchor) may take.
function room(width, x, anchor) {
  const side = anchor === "auto" ? (x < 1 / 3 ? "left" : x > 2 / 3 ? "right" : "center") : anchor;
  const share = side === "left" ? 1 - x : side === "right" ? x : 2 * Math.min(x, 1 - x);
  return share * width - 12;
}

// The title and subtitle as wide as the figure allows, the top margin grown by the lines added (a title's first
// line sits on the middle of the top margin: one more line takes one and a half line heights); the legend under
// a narrow figure.
function fitTitles(gd) {
  const layout = gd._fullLayout;
  const title = layout.title;
  const known = gd._euralisTitles || (gd._euralisTitles = {margin: layout.margin.t});
  const update = {};
  let added = 0;
  for (const [path, part] of [["title", title], ["title.subtitle", title && title.subtitle]]) {
    if (!part || !part.text) { continue; }
    const original = known[path] && known[path].shown === part.text ? known[path].original : part.text;
    const flat = original.replace(/<br>/g, " ");
    measure.font = `${part.font.size}px ${part.font.family}`;
    const needed = measure.measureText(flat).width;
    const available = room(layout.width, title.x, title.xanchor);
    const shown = needed <= available ? original : wrap(flat, Math.max(8, Math.floor(flat.length * available / needed)));
    known[path] = {original, shown};
    if (shown !== part.text) { update[`${path}.text`] = shown; }
    added += (shown.split("<br>").length - 1) * part.font.size * 1.3 * 1.5;
  }
  const margin = Math.round(known.margin + added);
  if (margin !== layout.margin.t) { update["margin.t"] = margin; }
  // On a phone the legend goes under the chart instead of taking half of its width.
  const below = layout.width < NARROW && layout.showlegend;
  if (below !== Boolean(known.below)) {
    known.below = below;
    Object.assign(update, below ? {"legend.orientation": "h", "legend.x": 0, "legend.xanchor": "left", "legend.y": -0.25,
                                   "legend.yanchor": "top"}
      : {"legend.orientation": null, "legend.x": null, "legend.xanchor": null, "legend.y": null, "legend.yanchor": null});
  }
  if (Object.keys(update).length) {
    update._doNotReportToPy = true;  // the figure's title stays whole on the kernel's side (reports, exports)
    window.Plotly.relayout(gd, update).catch(() => {});
  }
}

function redraw(gd) {
  if (!gd.isConnected || !gd.clientWidth || !gd._fullLayout || !window.Plotly) { return; }
  window.Plotly.Plots.resize(gd).then(() => fitTitles(gd)).catch(() => {});
}

export default () => {
  const widget = bundle.default();
  return {
    ...widget,
    render(context) {
      const gd = context.el;
      let width = 0;
      const drawn = event => { if (event.detail && event.detail.element === gd) { width = gd.clientWidth; redraw(gd); } };
      const follow = new ResizeObserver(() => { if (gd.clientWidth !== width) { width = gd.clientWidth; redraw(gd); } });
      document.addEventListener("plotlywidget-after-render", drawn);
      follow.observe(gd);
      const remove = widget.render(context);
      return () => {
        follow.disconnect();
        document.removeEventListener("plotlywidget-after-render", drawn);
        if (typeof remove === "function") { remove(); }
      };
    },
  };
};
