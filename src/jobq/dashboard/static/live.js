// jobq dashboard, the live part: every 2 seconds, fetch this page again and put the new
// <main> in place of the old (the page itself is rendered on the server and works without
// this script). Pauses while you type in a form or the tab is hidden; keeps open tracebacks
// open. Also asks before "retry all dead".
"use strict";

const REFRESH_MS = 2000;

async function refresh() {
  if (document.querySelector("[data-no-refresh]")) return; // a form to fill: leave it be
  const active = document.activeElement;
  const typing = active && active.form && active.tagName !== "BUTTON";
  if (!typing && document.visibilityState === "visible") {
    try {
      const response = await fetch(location.href, { headers: { Accept: "text/html" } });
      if (!response.ok && response.status !== 404) throw new Error(String(response.status));
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      const fresh = page.getElementById("view");
      const current = document.getElementById("view");
      if (fresh && current) {
        const open = new Set([...current.querySelectorAll("details[open]")].map((d) => d.dataset.key));
        for (const details of fresh.querySelectorAll("details")) {
          if (open.has(details.dataset.key)) details.open = true;
        }
        current.replaceWith(document.adoptNode(fresh));
        wire();
      }
      document.getElementById("live").classList.remove("stale");
    } catch (error) {
      document.getElementById("live").classList.add("stale");
    }
  }
  setTimeout(refresh, REFRESH_MS);
}

function wire() {
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!confirm(form.dataset.confirm)) event.preventDefault();
    });
  }
}

document.addEventListener("DOMContentLoaded", () => {
  wire();
  setTimeout(refresh, REFRESH_MS);
});
