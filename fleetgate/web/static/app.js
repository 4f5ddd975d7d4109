// fleetgate's one script: times in the browser's zone, a running build's log as it is written, and the
// devices table kept current. Text only ever goes in through textContent: a log line is never markup.
"use strict";

const UNITS = [[365 * 86400, "year"], [30 * 86400, "month"], [7 * 86400, "week"], [86400, "day"],
               [3600, "hour"], [60, "minute"]];

// Mirrors fleetgate/web/display.py relative().
function relative(then, now) {
  const seconds = (then - now) / 1000;
  const span = Math.abs(seconds);
  if (span < 45) return "just now";
  let count = Math.round(span), name = "second";
  for (const [size, unit] of UNITS) {
    if (span >= size) { count = Math.round(span / size); name = unit; break; }
  }
  const words = `${count} ${name}${count === 1 ? "" : "s"}`;
  return seconds > 0 ? `in ${words}` : `${words} ago`;
}

function showTimes(root) {
  const now = Date.now();
  for (const el of root.querySelectorAll("time[datetime]")) {
    const when = new Date(el.getAttribute("datetime"));
    if (isNaN(when)) continue;
    el.title = when.toLocaleString();
    el.textContent = relative(when.getTime(), now);
  }
}

function followLog(pre) {
  const status = document.getElementById("status");
  const source = new EventSource(pre.dataset.events);
  source.addEventListener("line", (event) => {
    const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    pre.appendChild(document.createTextNode(event.data + "\n"));
    if (atEnd) pre.scrollTop = pre.scrollHeight;
  });
  source.addEventListener("status", (event) => {
    source.close();
    if (status) {
      status.textContent = event.data;
      status.className = "badge badge-" + event.data.replace(/[^a-z]/g, "");
    }
    const note = document.getElementById("live-note");
    if (note) note.textContent = "The build ended: " + event.data + ".";
  });
}

// Re-reads the page every few seconds and swaps in the element with the same id (server-rendered, escaped).
function keepCurrent(el) {
  const seconds = Number(el.dataset.refresh) || 5;
  setInterval(async () => {
    try {
      const answer = await fetch(location.href, { credentials: "same-origin" });
      if (!answer.ok) return;
      const fresh = new DOMParser().parseFromString(await answer.text(), "text/html").getElementById(el.id);
      const current = document.getElementById(el.id);
      if (fresh && current && !current.contains(document.activeElement)) {
        current.replaceWith(document.importNode(fresh, true));
        showTimes(document);
      }
    } catch (_) { /* offline for a moment: try again on the next tick */ }
  }, seconds * 1000);
}

document.addEventListener("DOMContentLoaded", () => {
  showTimes(document);
  setInterval(() => showTimes(document), 30000);
  const live = document.getElementById("live-log");
  if (live) followLog(live);
  for (const el of document.querySelectorAll("[data-refresh][id]")) keepCurrent(el);
});
