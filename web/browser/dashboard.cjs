// Drives the dashboard in Debian's chromium through playwright-core, as a
// user would: signs in, watches a Backup-vault backup's progress move after
// triggering it with "Backup now", restores a recovery point to a new disk
// and finds that disk. Run by web/browser_test.go (which starts the server
// and checks the outcome through the SDK); prints a JSON summary.
"use strict";
const path = require("path");
const fs = require("fs");
const os = require("os");

const env = k => { const v = process.env[k]; if (!v) throw new Error(k + " is not set"); return v; };
const { chromium } = require(path.join(env("SAFEHOLD_PLAYWRIGHT_DIR"), "node_modules", "playwright-core"));

(async () => {
  const base = env("SAFEHOLD_URL"), shots = env("SAFEHOLD_SCREENSHOT_DIR"), item = env("SAFEHOLD_ITEM");
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "safehold-chromium-"));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.SAFEHOLD_CHROMIUM || "/usr/bin/chromium",
    headless: true, ignoreHTTPSErrors: true, viewport: { width: 1400, height: 900 },
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
  const summary = { progress: [] };
  const errors = [];
  try {
    const page = ctx.pages()[0] || await ctx.newPage();
    page.on("pageerror", e => errors.push(String(e)));
    page.on("console", m => { if (m.type() === "error") errors.push(m.text()); });
    page.setDefaultTimeout(60000);
    await page.goto(base + "/dashboard/");
    await page.fill("#clientId", env("SAFEHOLD_CLIENT_ID"));
    await page.fill("#clientSecret", env("SAFEHOLD_CLIENT_SECRET"));
    await page.click("#loginform button[type=submit]");
    await page.waitForSelector("#jobs-chart canvas");
    await page.waitForSelector("#storage-figures");
    summary.storage = await page.textContent("#storage-figures");
    await page.screenshot({ path: path.join(shots, "overview.png"), fullPage: true });

    // Backup now from the items view; the view switches to the jobs.
    await page.click("#tabs button[data-tab=items]");
    const before = await page.$$eval("tr.job", rows => rows.length).catch(() => 0);
    await page.click("#backup-" + item);
    await page.waitForSelector('tr.job[data-kind="Backup vault"][data-op="Backup"][data-status="InProgress"], #flash:has-text("failed")', { timeout: 30000 }).catch(() => {});
    // Watch the newest Backup-vault backup job until it ends.
    const deadline = Date.now() + 120000;
    let status = "";
    for (; Date.now() < deadline;) {
      const row = await page.$('tr.job[data-kind="Backup vault"][data-op="Backup"]');
      if (row) {
        status = await row.getAttribute("data-status");
        const pct = await row.$(".pct");
        const p = pct ? parseInt(await pct.textContent(), 10) : null;
        const last = summary.progress[summary.progress.length - 1];
        if (!last || last.p !== p || last.status !== status) summary.progress.push({ p, status });
        if (status && status !== "InProgress") break;
      }
      await page.waitForTimeout(100);
    }
    summary.backupStatus = status;
    summary.flash = await page.textContent("#flash");

    // The item's recovery points: timeline and table.
    await page.click("#tabs button[data-tab=items]");
    await page.click("#points-" + item);
    await page.waitForSelector("#points-panel .timeline .dot");
    summary.points = await page.$$eval("#points-panel .timeline .dot", d => d.length);
    await page.screenshot({ path: path.join(shots, "points.png"), fullPage: true });

    // Restore the newest point to a new disk.
    await page.click("#points-panel .restore-btn");
    await page.fill("#restore-disk", env("SAFEHOLD_RESTORE_DISK"));
    await page.fill("#restore-rg", env("SAFEHOLD_RESTORE_RG"));
    await page.click("#restore-go");
    await page.waitForSelector('tr.job[data-op="Restore"][data-status="Completed"], tr.job[data-op="Restore"][data-status="Failed"]', { timeout: 120000 });
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
    await page.waitForSelector('tr.job[data-op="Restore"][data-status="Failed"]', { timeout: 120000 });
    await page.click('tr.job[data-op="Restore"][data-status="Failed"]');
    await page.waitForSelector("#job-panel");
    summary.failedJobPanel = await page.innerText("#job-panel");

    // The new disk is listed.
    await page.click("#tabs button[data-tab=compute]");
    await page.waitForSelector('tr[data-disk="' + env("SAFEHOLD_RESTORE_DISK") + '"]', { timeout: 30000 });
    summary.diskListed = true;
    summary.errors = errors;
  } catch (e) {
    summary.error = String(e && e.stack || e);
    summary.errors = errors;
    console.log(JSON.stringify(summary));
    await ctx.close();
    fs.rmSync(profile, { recursive: true, force: true });
    process.exit(1);
  }
  console.log(JSON.stringify(summary));
  await ctx.close();
  fs.rmSync(profile, { recursive: true, force: true });
})();
