"""Make benchopt's HTML result pages work without network:
``python -m benchmark_tools.plotting outputs/*.html``.

The page loads plotly.js from a CDN and stays blank offline; :func:`make_offline`
inlines the copy of plotly.js that the ``plotly`` package (a benchopt
dependency) ships.
"""

import argparse
import re
import sys
from pathlib import Path

PLOTLY_CDN = re.compile(
    r'<script[^>]*src="https://cdn\.plot\.ly/plotly-[^"]*"[^>]*>\s*</script>'
)
# benchopt's page passes titles as strings; plotly.js 3 and later want
# {text: ...}. Wrap the calls it makes so titles still show.
TITLE_SHIM = """
(function () {
  function fix(layout) {
    if (!layout || typeof layout !== "object") return layout;
    if (typeof layout.title === "string") layout.title = {text: layout.title};
    Object.keys(layout).forEach(function (key) {
      var axis = layout[key];
      if (/^[xy]axis[0-9]*$/.test(key) && axis && typeof axis.title === "string") {
        axis.title = {text: axis.title};
      }
    });
    return layout;
  }
  ["newPlot", "react"].forEach(function (name) {
    var call = Plotly[name];
    Plotly[name] = function (div, data, layout, config) {
      return call.call(Plotly, div, data, fix(layout), config);
    };
  });
})();
"""


def plotly_js():
    """The minified plotly.js shipped by the ``plotly`` Python package."""
    import plotly

    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise FileNotFoundError(f"plotly.js is not in the plotly package ({path})")
    return path.read_text(encoding="utf-8")


def make_offline(html_path, js=None):
    """Replace the plotly.js CDN ``<script>`` of a benchopt result page by an
    inline copy (plus :data:`TITLE_SHIM`). Returns False if the page has no
    such tag (already done, or not a result page). Tables (grid.js), fonts
    and the logo animation still come from CDNs and are skipped offline."""
    html_path = Path(html_path)
    html = html_path.read_text(encoding="utf-8")
    if not PLOTLY_CDN.search(html):
        return False
    js = plotly_js() if js is None else js
    # "</script" inside the library would end the element early.
    js = js.replace("</script", "<\\/script")
    inline = f"<script>\n{js}\n</script>\n<script>{TITLE_SHIM}</script>"
    html = PLOTLY_CDN.sub(lambda _: inline, html, count=1)
    tmp = html_path.with_name(html_path.name + ".tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(html_path)
    return True


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m benchmark_tools.plotting",
        description="Make benchopt result pages (outputs/*.html) work offline "
        "by inlining plotly.js.",
    )
    parser.add_argument("pages", nargs="+", type=Path)
    args = parser.parse_args(argv)
    for page in args.pages:
        done = make_offline(page)
        print(f"{page}: {'plotly.js inlined' if done else 'nothing to do'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
