// Reads the dashboard in Debian's chromium (playwright-core) as an Owner
// and as a Reader of the subscription (run by web/roles_test.go
// TestDashboardDamagedPointsAndRoles, which checks the JSON summary this
// prints): each item's recovery points with their state (a verify found
// some damaged), which points offer a restore, which action buttons each
// principal may press, and what the server and the page answer a Reader
// who presses one anyway. Every wait is for what the page shows.
"use strict";
const path = require("path");
const { env, launch, signIn } = require("./common.cjs");

(async () => {
  const base = env("SAFEHOLD_URL"), shots = env("SAFEHOLD_SCREENSHOT_DIR");
  const dpItem = env("SAFEHOLD_DP_ITEM"), rsItem = env("SAFEHOLD_RS_ITEM");
  // A zone not the server's (UTC): the page shows times in it, and says so.
  const { page, close } = await launch({ timezoneId: "America/New_York", locale: "en-US" });
  const summary = {};
  const errors = [];
  page.on("pageerror", e => errors.push(String(e)));
  // (the browser's own log lines of the requests refused to the Reader, the
  // principal with no role and the ended token are not the page's errors)
  page.on("console", m => { if (m.type() === "error" && !/status of 40[13]/.test(m.text())) errors.push(m.text()); });
  // The items view as the page shows it: each item's buttons (disabled or
  // not, and the action a disabled one names) and, for each item, its
  // points panel's rows.
  const buttons = () => page.evaluate(() => Object.fromEntries([...document.querySelectorAll("#view .actions button")].map(b => [b.id, { disabled: b.disabled, denied: b.dataset.denied || "" }])));
  const points = async item => {
    await page.click("#points-" + item);
    await page.waitForFunction(() => document.querySelectorAll("#points-panel tr.point").length > 0);
    return page.evaluate(() => ({
      rows: [...document.querySelectorAll("#points-panel tr.point")].map(r => {
        const b = r.querySelector(".restore-btn");
        return { name: r.dataset.point, state: r.dataset.state, text: r.innerText, restore: b ? (b.disabled ? "disabled" : "enabled") : "none" };
      }),
      damagedDots: document.querySelectorAll("#points-panel .timeline .dot.damaged").length,
      note: (document.getElementById("damaged-note") || {}).textContent || "",
    }));
  };
  const as = async (who, id, secret) => {
    await signIn(page, base, id, secret);
    await page.click("#tabs button[data-tab=items]");
    await page.waitForSelector("#backup-" + dpItem);
    await page.waitForSelector("#backup-" + rsItem);
    await page.waitForSelector('#status:has-text("Updated")');
    const s = { buttons: await buttons(), deniedNote: (await page.$("#denied-note")) !== null, who: await page.textContent("#who"), status: await page.textContent("#status") };
    s.dp = await points(dpItem);
    s.itemsRow = await page.evaluate(item => document.querySelector('tr[data-item="' + item + '"]').innerText, dpItem);
    await page.screenshot({ path: path.join(shots, "points-" + who + ".png"), fullPage: true });
    s.rs = await points(rsItem);
    return s;
  };
  try {
    summary.owner = await as("owner", env("SAFEHOLD_OWNER_ID"), env("SAFEHOLD_OWNER_SECRET"));
    // The VM's intact point's disks, restored from its row (the points
    // panel shows the VM's now): the page goes to the jobs, where the
    // restore's row ends.
    await page.click("#points-panel tr.point[data-state=Completed] .restore-btn");
    await page.fill("#restore-rg", "restore-rg");
    await page.fill("#restore-sa", "staging1");
    await page.click("#restore-go");
    await page.waitForSelector('#flash:has-text("started"), #flash:has-text("failed")');
    summary.owner.restoreFlash = await page.textContent("#flash");
    const restoreRow = 'tr.job[data-kind="Recovery Services"][data-op="Restore"]';
    if (/started/.test(summary.owner.restoreFlash)) {
      await page.waitForSelector(restoreRow + '[data-status="Completed"], ' + restoreRow + '[data-status="Failed"]');
      summary.owner.restoreStatus = await page.getAttribute(restoreRow, "data-status");
    }
    await page.click("#tabs button[data-tab=items]");
    // Stop protection asks first; dismissed, nothing is stopped.
    summary.owner.dialogs = [];
    const dismiss = d => { summary.owner.dialogs.push(d.message()); d.dismiss(); };
    page.on("dialog", dismiss);
    await page.click("#stop-" + dpItem);
    page.off("dialog", dismiss);
    summary.owner.afterDismiss = { flash: await page.textContent("#flash"), stop: await page.textContent("#stop-" + dpItem) };
    // The Owner acts: a backup of the disk starts.
    await page.click("#backup-" + dpItem);
    await page.waitForSelector('#flash:has-text("started"), #flash:has-text("failed")');
    summary.owner.flash = await page.textContent("#flash");
    // The overview's failed jobs' card opens the Jobs view on the failed
    // jobs; the view's filter back to all statuses shows every job.
    await page.click("#tabs button[data-tab=overview]");
    await page.click("#card-failed");
    await page.waitForSelector('#jobs-heading[data-status="Failed"]');
    const rows = () => page.evaluate(() => [...document.querySelectorAll("tr.job")].map(r => ({ status: r.dataset.status, op: r.dataset.op, text: r.innerText })));
    summary.owner.failedJobs = { heading: await page.textContent("#jobs-heading"), rows: await rows() };
    await page.selectOption("#job-status", "");
    await page.waitForSelector('#jobs-heading[data-status=""]');
    summary.owner.allJobs = (await rows()).length;
    await page.click("#signout");
    await page.waitForSelector("#login:not([hidden])");

    summary.reader = await as("reader", env("SAFEHOLD_READER_ID"), env("SAFEHOLD_READER_SECRET"));
    // The server refuses the Reader anyway: the request the button sends,
    // sent with the page's token, and the button pressed once enabled by
    // hand (its error shows where an action's outcome does).
    summary.reader.direct = await page.evaluate(async item => {
      const it = data.items.find(x => x.name === item);
      const r = await fetch(it.id + "/backup?api-version=" + V.dp, { method: "POST", headers: { Authorization: "Bearer " + token, "Content-Type": "application/json" },
        body: JSON.stringify({ backupRuleOptions: { ruleName: "BackupDaily", triggerOption: { retentionTagOverride: "Default" } } }) });
      return { status: r.status, body: await r.text() };
    }, dpItem);
    await page.click("#tabs button[data-tab=items]");
    await page.evaluate(item => { const b = document.getElementById("backup-" + item); b.disabled = false; b.click(); }, dpItem);
    await page.waitForSelector('#flash:has-text("failed")');
    summary.reader.flash = await page.textContent("#flash");
    summary.reader.flashClass = await page.getAttribute("#flash", "class");
    await page.screenshot({ path: path.join(shots, "reader-refused.png"), fullPage: true });
    // A token the server no longer takes (as one an hour old): the page
    // goes back to the sign-in form and says why.
    await page.evaluate(() => { token = token.slice(0, -6) + (token.endsWith("AAAAAA") ? "BBBBBB" : "AAAAAA"); refresh(); });
    await page.waitForSelector("#login:not([hidden])");
    summary.ended = await page.textContent("#loginerr");

    // A principal with no role sees no vault, and the items view says so
    // (and what to do), the status line why.
    await signIn(page, base, env("SAFEHOLD_NOROLE_ID"), env("SAFEHOLD_NOROLE_SECRET"));
    await page.click("#tabs button[data-tab=items]");
    await page.waitForSelector('#view p.empty:has-text("can read")');
    summary.noRole = { items: await page.textContent('#view p.empty:has-text("can read")'), status: await page.textContent("#status") };
  } catch (e) {
    summary.error = String(e && e.stack || e);
    summary.status = await page.textContent("#status").catch(() => "");
    await page.screenshot({ path: path.join(shots, "roles-failed.png"), fullPage: true }).catch(() => {});
  }
  summary.errors = errors;
  console.log(JSON.stringify(summary));
  await close();
  if (summary.error) process.exit(1);
})();
