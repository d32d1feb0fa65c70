// MathJax 3 configuration for the pymdownx.arithmatex spans (generic mode): only the
// elements of class "arithmatex" are typeset.  Everything MathJax needs is in the vendored
// single-file component docs/javascripts/mathjax/tex-svg.js (TeX input, SVG output with its
// fonts as paths): no request leaves the site.  The context menu is off, because its
// accessibility options would load the speech-rule engine from a CDN.
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"]],
    displayMath: [["\\[", "\\]"]],
    processEscapes: true,
    processEnvironments: true,
    tags: "none"
  },
  options: {
    ignoreHtmlClass: ".*|",
    processHtmlClass: "arithmatex",
    enableMenu: false
  },
  svg: {
    fontCache: "global"
  }
};
