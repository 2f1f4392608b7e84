// Settings: the effective config as the server runs it, secrets masked server-side.
"use strict";
(function () {
  V.page = {
    async load() {
      const cfg = await V.api("/api/v1/ui/config");
      document.getElementById("config").textContent = JSON.stringify(cfg, null, 2);
    },
  };
})();
