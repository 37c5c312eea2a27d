// Drives the dashboard in Debian's chromium through playwright-core, as a
// user would: signs in, watches a Backup-vault backup's progress move after
// triggering it with "Backup now", restores a recovery point to a new disk
// and finds that disk. Run by web/browser_test.go (which starts the server
// and checks the outcome through the SDK); prints a JSON summary.
//
// No step depends on how fast the machine is: the backup is held InProgress
// by a fault rule (SAFEHOLD_HOLD_RULE) until this driver has seen it so in
// the dashboard, and then released by deleting the rule; every wait is for
// what the page shows, with deadlines of minutes (a loaded CI machine runs a
// refresh in seconds).
"use strict";
const path = require("path");
const { env, launch, signIn } = require("./common.cjs");

(async () => {
  const base = env("SAFEHOLD_URL"), shots = env("SAFEHOLD_SCREENSHOT_DIR"), item = env("SAFEHOLD_ITEM");
  const { ctx, page, close } = await launch();
  const summary = { progress: [] };
  const errors = [];
  // Every status line that says a list could not be read (or the refresh
  // failed): the views show such a list empty, so the status line is where
  // a failed read shows.
  await ctx.addInitScript(() => {
    window.__failedLoads = [];
    document.addEventListener("DOMContentLoaded", () => {
      const st = document.getElementById("status");
      new MutationObserver(() => {
        const f = window.__failedLoads;
        if (st.className === "bad" && f[f.length - 1] !== st.textContent) f.push(st.textContent);
      }).observe(st, { childList: true, characterData: true, subtree: true, attributes: true });
    });
  });
  // The backup's hold: deleting the rule releases the backup it holds. It
  // answers the rule's hits before the delete and the delete's status.
  const hold = env("SAFEHOLD_HOLD_RULE");
  const release = () => page.evaluate(async name => {
    const h = { Authorization: "Bearer " + sessionStorage.getItem("safehold-token") };
    const rules = await (await fetch("/providers/Safehold.Admin/faultRules?api-version=2024-01-01", { headers: h })).json();
    const r = (rules.value || []).find(x => x.name === name);
    const d = await fetch("/providers/Safehold.Admin/faultRules/" + name + "?api-version=2024-01-01", { method: "DELETE", headers: h });
    return { hits: r ? r.hits : null, status: d.status };
  }, hold);
  try {
    page.on("pageerror", e => errors.push(String(e)));
    page.on("console", m => { if (m.type() === "error") errors.push(m.text()); });
    page.setDefaultTimeout(180000);
    await signIn(page, base, env("SAFEHOLD_CLIENT_ID"), env("SAFEHOLD_CLIENT_SECRET"));
    await page.waitForSelector("#jobs-chart canvas");
    await page.waitForSelector("#storage-figures");
    summary.storage = await page.textContent("#storage-figures");
    await page.screenshot({ path: path.join(shots, "overview.png"), fullPage: true });

    // The jobs' window: the Jobs view as each window shows it (the test
    // seeded jobs 2-6 and 8-25 days old), read once the view has the
    // window's data. Switching reads no recovery points (no job ended, bar a
    // scheduled one).
    const seeded = env("SAFEHOLD_SEEDED_ITEM"), dpVault = env("SAFEHOLD_DP_VAULT"), rsVault = env("SAFEHOLD_RS_VAULT");
    await page.click("#tabs button[data-tab=jobs]");
    summary.windows = {};
    summary.pointReads = 0;
    summary.switchLoads = 0;
    summary.rsJobLists = [];
    const onRequest = r => {
      const u = r.url();
      if (/\/recoveryPoints\?/.test(u)) summary.pointReads++;
      if (/\/providers\/Microsoft\.DataProtection\/backupVaults\?/.test(u)) summary.switchLoads++; // once a load
      if (/\/Microsoft\.RecoveryServices\/vaults\/[^/]+\/backupJobs\?/i.test(u)) summary.rsJobLists.push(u);
    };
    // The rows of the jobs started 30 hours ago and still running (their
    // backups held until released below): the 24 hours window shows them.
    const oldJobs = env("SAFEHOLD_OLD_JOBS").split(","), oldRules = env("SAFEHOLD_OLD_RULES").split(",");
    const oldRows = () => page.evaluate(names => Object.fromEntries(names.map(n => {
      const r = document.querySelector('tr.job[data-job="' + n + '"]');
      return [n, r ? r.dataset.status : ""];
    })), oldJobs);
    for (const w of ["7", "1", "30", "7"]) {
      if (w !== "7" || summary.windows["7"]) await page.selectOption("#window", w);
      await page.waitForFunction(w => { const h = document.getElementById("jobs-heading"); return h && h.dataset.window === w; }, w);
      if (!summary.windows[w]) {
        // The view draws 200 rows at first, the newest; asked, all of them.
        summary.paging = summary.paging || {};
        summary.paging[w] = await page.evaluate(() => ({ rows: document.querySelectorAll("tr.job").length, note: (document.getElementById("jobs-paging") || {}).textContent || "" }));
        if (await page.$("#jobs-all")) {
          await page.click("#jobs-all");
          await page.waitForFunction(() => !document.getElementById("jobs-paging"));
        }
        summary.windows[w] = await page.evaluate(([seeded, dp, rs]) => {
          const rows = [...document.querySelectorAll("tr.job")], n = (v, s) => rows.filter(r => r.dataset.vault === v && (!s || r.dataset.item === s)).length;
          const cut = document.getElementById("jobs-cut");
          return { heading: document.getElementById("jobs-heading").textContent, cut: cut ? cut.textContent : "", dp: n(dp), rs: n(rs), seedDP: n(dp, seeded), seedRS: n(rs, seeded) };
        }, [seeded, dpVault, rsVault]);
        if (w === "1") {
          summary.oldRunning = await oldRows();
          summary.runningStatus = await page.textContent("#status");
        }
        if (w === "30") await page.screenshot({ path: path.join(shots, "jobs-30-days.png") });
      }
      if (w === "7" && !page.listeners("request").includes(onRequest)) page.on("request", onRequest);
    }
    page.off("request", onRequest);

    // Released, the old jobs end, and the 24 hours window shows them ended.
    await page.selectOption("#window", "1");
    await page.waitForFunction(() => { const h = document.getElementById("jobs-heading"); return h && h.dataset.window === "1"; });
    summary.oldReleased = await page.evaluate(async names => {
      const h = { Authorization: "Bearer " + sessionStorage.getItem("safehold-token") };
      const out = [];
      for (const n of names) out.push((await fetch("/providers/Safehold.Admin/faultRules/" + n + "?api-version=2024-01-01", { method: "DELETE", headers: h })).status);
      return out;
    }, oldRules);
    await page.waitForFunction(names => names.every(n => {
      const r = document.querySelector('tr.job[data-job="' + n + '"]');
      return r && !/progress/i.test(r.dataset.status);
    }), oldJobs, { timeout: 900000 });
    summary.oldEnded = await oldRows();
    await page.selectOption("#window", "7");
    await page.waitForFunction(() => { const h = document.getElementById("jobs-heading"); return h && h.dataset.window === "7"; });

    // Backup now from the items view; the view switches to the jobs.
    await page.click("#tabs button[data-tab=items]");
    await page.click("#backup-" + item);
    // The backup is the Backup-vault backup job in progress (the item's
    // earlier backup has completed): the hold keeps it so until released.
    const running = 'tr.job[data-kind="Backup vault"][data-op="Backup"][data-status="InProgress"]';
    await page.waitForSelector(running + ', #flash:has-text("failed")');
    // Read at once, in the page (no wait: getAttribute's own wait of 1 s
    // could run out on a loaded machine with the row there all along).
    const job = await page.evaluate(sel => { const r = document.querySelector(sel); return r ? r.dataset.job : null; }, running);
    // Watch it until it ends; once it is seen in progress below 100,
    // release its hold.
    const deadline = Date.now() + 300000;
    let status = "";
    for (; job && Date.now() < deadline;) {
      // The row as the page has it now (read in one go: a refresh redraws it).
      const row = await page.evaluate(name => {
        const r = document.querySelector('tr.job[data-job="' + name + '"]'), pct = r && r.querySelector(".pct");
        return r && { status: r.dataset.status, p: pct ? parseInt(pct.textContent, 10) : null };
      }, job);
      if (row) {
        const { status: st, p } = row;
        status = st;
        const last = summary.progress[summary.progress.length - 1];
        if (!last || last.p !== p || last.status !== status) summary.progress.push({ p, status });
        if (status === "InProgress" && p !== null && p < 100 && !summary.hold) summary.hold = await release();
        if (status !== "InProgress") break;
      }
      await page.waitForTimeout(100);
    }
    summary.backupStatus = status;
    summary.flash = await page.textContent("#flash");

    // The item's recovery points: timeline and table.
    await page.click("#tabs button[data-tab=items]");
    await page.click("#points-" + item);
    // Two points: the item's first backup's and this one's (a refresh that
    // read the points just before this backup recorded its own shows one).
    await page.waitForFunction(() => document.querySelectorAll("#points-panel .timeline .dot").length >= 2);
    summary.points = await page.$$eval("#points-panel .timeline .dot", d => d.length);
    await page.screenshot({ path: path.join(shots, "points.png"), fullPage: true });

    // Restore the newest point to a new disk.
    await page.click("#points-panel .restore-btn");
    await page.fill("#restore-disk", env("SAFEHOLD_RESTORE_DISK"));
    await page.fill("#restore-rg", env("SAFEHOLD_RESTORE_RG"));
    await page.click("#restore-go");
    await page.waitForSelector('tr.job[data-op="Restore"][data-status="Completed"], tr.job[data-op="Restore"][data-status="Failed"]');
    summary.restoreStatus = await page.getAttribute('tr.job[data-op="Restore"]', "data-status");
    await page.click('tr.job[data-op="Restore"]');
    await page.waitForSelector("#job-panel");
    summary.restoreJobPanel = await page.innerText("#job-panel");
    await page.screenshot({ path: path.join(shots, "restore-job.png"), fullPage: true });

    // A restore into a group where the vault's identity has no role fails;
    // the job's panel shows the error and what to do about it.
    await page.click("#tabs button[data-tab=items]");
    await page.click("#points-" + item);
    await page.waitForSelector("#points-panel .restore-btn");
    await page.click("#points-panel .restore-btn");
    await page.fill("#restore-disk", "denied-ui");
    await page.fill("#restore-rg", env("SAFEHOLD_NOROLE_RG"));
    await page.click("#restore-go");
    await page.waitForSelector('tr.job[data-op="Restore"][data-status="Failed"]');
    await page.click('tr.job[data-op="Restore"][data-status="Failed"]');
    await page.waitForSelector("#job-panel");
    summary.failedJobPanel = await page.innerText("#job-panel");

    // The new disk is listed.
    await page.click("#tabs button[data-tab=compute]");
    await page.waitForSelector('tr[data-disk="' + env("SAFEHOLD_RESTORE_DISK") + '"]');
    summary.diskListed = true;
  } catch (e) {
    summary.error = String(e && e.stack || e);
  }
  summary.errors = errors;
  summary.failedLoads = await page.evaluate(() => window.__failedLoads).catch(e => ["reading the status lines: " + e]);
  if (summary.error) {
    summary.status = await page.textContent("#status").catch(() => "");
    await page.screenshot({ path: path.join(shots, "failed.png"), fullPage: true }).catch(() => {});
    if (!summary.hold) await release().catch(() => {}); // the server's end need not wait for the held backup
    await page.evaluate(async names => {
      const h = { Authorization: "Bearer " + sessionStorage.getItem("safehold-token") };
      for (const n of names) await fetch("/providers/Safehold.Admin/faultRules/" + n + "?api-version=2024-01-01", { method: "DELETE", headers: h });
    }, (process.env.SAFEHOLD_OLD_RULES || "").split(",").filter(Boolean)).catch(() => {});
  }
  console.log(JSON.stringify(summary));
  await close();
  if (summary.error) process.exit(1);
})();
