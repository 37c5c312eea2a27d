// What the dashboard's browser drivers share: Debian's chromium through
// playwright-core in a throw-away profile, and signing in as a service
// principal through the page's own form.
"use strict";
const path = require("path");
const fs = require("fs");
const os = require("os");

const env = k => { const v = process.env[k]; if (!v) throw new Error(k + " is not set"); return v; };

// launch starts chromium (with more of playwright's context options, say
// a timezoneId); close ends it and removes its profile.
async function launch(opts) {
  const { chromium } = require(path.join(env("SAFEHOLD_PLAYWRIGHT_DIR"), "node_modules", "playwright-core"));
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "safehold-chromium-"));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.SAFEHOLD_CHROMIUM || "/usr/bin/chromium",
    headless: true, ignoreHTTPSErrors: true, viewport: { width: 1400, height: 900 }, timeout: 180000,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
    ...opts,
  });
  const page = ctx.pages()[0] || await ctx.newPage();
  page.setDefaultTimeout(180000);
  const close = async () => { await ctx.close(); fs.rmSync(profile, { recursive: true, force: true }); };
  return { ctx, page, close };
}

// signIn opens the dashboard and signs in with the client id and secret.
async function signIn(page, base, clientId, secret) {
  await page.goto(base + "/dashboard/");
  await page.fill("#clientId", clientId);
  await page.fill("#clientSecret", secret);
  await page.click("#loginform button[type=submit]");
  await page.waitForSelector("#app:not([hidden])");
}

module.exports = { env, launch, signIn };
