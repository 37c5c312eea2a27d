// Reads the dashboard in Debian's chromium (playwright-core) after the
// server's clock was moved 3 days ahead of the browser's (run by
// web/browser_test.go TestDashboardFollowsTheServerClock, which checks the
// JSON summary this prints): the jobs of the 24 hours window, the jobs the
// chart's bars count, the item's next backup, where the recovery points sit
// on the timeline, and the status line. Every wait is for what the page
// shows, with deadlines of minutes.
"use strict";
const path = require("path");
const { env, launch, signIn } = require("./common.cjs");

(async () => {
  const base = env("SAFEHOLD_URL"), shots = env("SAFEHOLD_SCREENSHOT_DIR"), item = env("SAFEHOLD_ITEM");
  const { page, close } = await launch();
  const summary = {};
  const errors = [];
  try {
    page.on("pageerror", e => errors.push(String(e)));
    page.on("console", m => { if (m.type() === "error") errors.push(m.text()); });
    page.setDefaultTimeout(180000);
    await signIn(page, base, env("SAFEHOLD_CLIENT_ID"), env("SAFEHOLD_CLIENT_SECRET"));
    // The 24 hours window, on the overview: its chart counts that window's jobs.
    await page.waitForSelector("#jobs-chart canvas");
    await page.selectOption("#window", "1");
    await page.waitForFunction(() => /24 hours/.test((document.querySelector("#jobs-chart h3") || {}).textContent || "") && document.querySelector("#jobs-chart canvas"));
    summary.placed = +(await page.getAttribute("#jobs-chart", "data-placed"));
    summary.status = await page.textContent("#status");
    // How the status line names clock distances: the page's own skewName
    // on distances just off round figures (ms, the name it gives).
    summary.skews = await page.evaluate(() => {
      const s = 1000, m = 60 * s, h = 60 * m, d = 24 * h;
      return [7 * d - 30 * s, 7 * d + 20 * m, 7 * d + 40 * m, -(3 * d + 23 * h + 50 * m), 23 * h + 59 * m + 50 * s, 2 * h + 29 * s, 59 * m + 40 * s, -(90 * s)]
        .map(ms => [ms, skewName(ms)]);
    });
    // What the page takes from each vault kind's job body: the bytes
    // moved and what a running job waits for.
    summary.jobBodies = await page.evaluate(() => {
      const v = { name: "v" };
      const rs = rsJob(v, { id: "r", name: "r", properties: { status: "InProgress", extendedInfo: { propertyBag: { "Backup Size": "1 MB", "Bytes Transferred": "1048576", Waiting: "Waiting for replica r2" } } } });
      const dp = dpJob(v, { id: "d", name: "d", properties: { status: "InProgress", extendedInfo: { dataTransferredInBytes: 4096, additionalDetails: { Waiting: "Waiting for replica r3" } } } });
      const old = rsJob(v, { id: "o", name: "o", properties: { status: "Completed", extendedInfo: { propertyBag: { "Backup Size": "2048 MB" } } } });
      return { rs: [rs.bytes, rs.waiting], dp: [dp.bytes, dp.waiting], old: [old.bytes, old.waiting] };
    });
    await page.screenshot({ path: path.join(shots, "clock-overview.png") });
    // The charts' y labels fit their axes: no label drawn into the
    // canvas's first two columns (a label wider than its axis is cut
    // there). The overview's charts, then the page's own chart functions
    // on figures of every size (750 GiB stored in TiB-sized...), as the
    // server's figures here are small.
    summary.edges = await page.evaluate(async () => {
      const frame = () => new Promise(r => requestAnimationFrame(() => setTimeout(r, 50)));
      const edge = c => { const d = c.getContext("2d").getImageData(0, 0, 2, c.height).data; let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n; };
      await frame();
      const out = { overviewJobs: edge(document.querySelector("#jobs-chart canvas")), overviewStorage: edge(document.querySelector("#storage-chart canvas")) };
      const boxes = [];
      const chart = (name, draw) => { const box = document.createElement("div"); box.className = "chart"; box.id = "test-" + name; document.getElementById("view").append(box); draw(box); boxes.push([name, box]); };
      for (const [name, logical, stored] of [["KiB", 900 * 2 ** 10, 2 ** 10], ["MiB", 999 * 2 ** 20, 3 * 2 ** 20], ["GiB", 750 * 2 ** 30, 2 ** 30], ["TiB", 1500 * 2 ** 40, 2 ** 40]]) {
        chart("storage" + name, box => storageChart(box, { logicalBytes: logical, storedBytes: stored, snapshots: 1 }));
      }
      const now = typeof serverNow === "function" ? serverNow() : Date.now(), jobs = [];
      for (let i = 0; i < 1500; i++) jobs.push({ start: new Date(now - 60000).toISOString(), status: "Completed" });
      chart("jobs1500", box => jobsChart(box, jobs, now));
      await frame();
      for (const [name, box] of boxes) out[name] = edge(box.querySelector("canvas"));
      return out;
    });
    // The Disks & VMs view lists snapshots newest first: the page's
    // own view on snapshots whose names sort otherwise, then the real tab
    // (the backups before and after the move).
    summary.snapshotOrder = await page.evaluate(() => {
      const box = document.createElement("div"), t = h => new Date(Date.UTC(2026, 0, 1, h)).toISOString();
      const snap = (name, h) => ({ name, id: "/subscriptions/s/resourceGroups/snaps/providers/Microsoft.Compute/snapshots/" + name, properties: { timeCreated: t(h) } });
      computeView(box, { disks: [], vms: [], snaps: [snap("a", 1), snap("b", 3), snap("c", 2)] });
      return [...box.querySelectorAll("tr.snapshot")].map(r => r.dataset.snapshot).join(",");
    });
    await page.click("#tabs button[data-tab=compute]");
    await page.waitForFunction(() => document.querySelectorAll("tr.snapshot").length >= 2);
    summary.snapshotTimes = await page.$$eval("tr.snapshot", rs => rs.map(r => r.dataset.created));
    await page.click("#tabs button[data-tab=overview]");
    // Every job of a window has its bar and no bar starts before the
    // window: jobs spread over each window (the newest now, the oldest
    // just inside it), drawn by the page's own chart function.
    summary.windowCharts = await page.evaluate(() => {
      const now = typeof serverNow === "function" ? serverNow() : Date.now(), out = {};
      for (const days of [1, 7, 30, 180]) {
        const jobs = [], span = days * 86400000 - 60000;
        for (let i = 0; i <= 40; i++) jobs.push({ start: new Date(now - span * i / 40).toISOString(), status: i % 3 ? "Completed" : "Failed" });
        const box = document.createElement("div");
        box.className = "chart";
        document.getElementById("view").append(box);
        jobsChart(box, jobs, now, days);
        out[days] = { jobs: jobs.length, placed: +box.dataset.placed, from: box.dataset.from, now: new Date(now).toISOString() };
        box.remove();
      }
      return out;
    });
    await page.screenshot({ path: path.join(shots, "clock-charts.png"), fullPage: true });
    await page.click("#tabs button[data-tab=jobs]");
    await page.waitForFunction(() => { const h = document.getElementById("jobs-heading"); return h && h.dataset.window === "1"; });
    summary.jobs = await page.$$eval("tr.job", rs => rs.map(r => r.dataset.job));
    // The panel of the backup taken after the move (no data changed since
    // the first): its duration and the bytes it moved, as the page shows them.
    await page.click('tr.job[data-job="' + env("SAFEHOLD_JOB") + '"]');
    await page.waitForSelector("#job-panel");
    summary.panel = await page.$$eval("#job-panel tr", rs => Object.fromEntries(rs.map(r => [...r.cells].map(c => c.innerText.trim())).filter(c => c.length === 2)));
    await page.click("#tabs button[data-tab=items]");
    await page.waitForSelector('tr[data-item="' + item + '"]');
    summary.next = await page.getAttribute('tr[data-item="' + item + '"]', "data-next");
    await page.click("#points-" + item);
    await page.waitForFunction(() => document.querySelectorAll("#points-panel .timeline .dot").length >= 2);
    summary.dots = await page.$$eval("#points-panel .timeline .dot", ds => ds.map(d => parseFloat(d.style.left)));
    // The timeline's end labels clear the points' table below it (px of
    // overlap, 0 when clear).
    summary.labelOverlap = await page.evaluate(() => {
      const label = document.querySelector("#points-panel .tl-from"), tbl = document.querySelector("#points-panel table");
      return Math.max(0, label.getBoundingClientRect().bottom - tbl.getBoundingClientRect().top);
    });
    await page.screenshot({ path: path.join(shots, "clock-points.png"), fullPage: true });
  } catch (e) {
    summary.error = String(e && e.stack || e);
    summary.status = await page.textContent("#status").catch(() => "");
    await page.screenshot({ path: path.join(shots, "clock-failed.png"), fullPage: true }).catch(() => {});
  }
  summary.errors = errors;
  console.log(JSON.stringify(summary));
  await close();
  if (summary.error) process.exit(1);
})();
