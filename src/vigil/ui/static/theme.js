// Applies the saved (or the system's) theme before first paint, so pages never flash.
"use strict";
(function () {
  const saved = localStorage.getItem("vigil.theme");
  const dark = window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
  document.documentElement.dataset.theme = saved || (dark ? "dark" : "light");
})();
