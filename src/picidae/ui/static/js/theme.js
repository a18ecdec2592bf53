// The theme before first paint, so a dark-mode page never flashes white. A classic script
// loaded from the page head (no inline script: the pages work under a strict CSP).
(function () {
  var saved = null;
  try { saved = localStorage.getItem("picidae.theme"); } catch (e) { /* private mode */ }
  var dark = saved ? saved === "dark" : matchMedia("(prefers-color-scheme: dark)").matches;
  document.documentElement.dataset.theme = dark ? "dark" : "light";
})();
