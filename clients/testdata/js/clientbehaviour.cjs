// What the JS SDK does on its own around the calls, against Safehold: pagers
// page by page with continuation tokens, long-running operations resumed
// from a poller's saved state (core-lro 2's resumeFrom in the classic
// packages, restorePoller of the modular arm-compute 24), an abort signal
// stopping a poll (the operation goes on and is resumed), the SDK's own
// retries of 503 and 429 answers (Retry-After) on calls and on polls, and
// @azure/identity's EnvironmentCredential and DefaultAzureCredential set
// up by the environment alone (AZURE_TENANT_ID=adfs, AZURE_AUTHORITY_HOST:
// no code can disable instance discovery there, and MSAL asks
// login.microsoftonline.com about any other authority).
"use strict";
const { sub, endpoint, scope, credential, clientOptions, step, fail, eq, rejects, poll, run, all } = require("./lib.cjs");
const { EnvironmentCredential, DefaultAzureCredential } = require("@azure/identity");
const { ResourceManagementClient, getContinuationToken } = require("@azure/arm-resources");
const compute = require("@azure/arm-compute");
const { RecoveryServicesClient } = require("@azure/arm-recoveryservices");
const { RecoveryServicesBackupClient, getContinuationToken: rsbToken } = require("@azure/arm-recoveryservicesbackup");

// admin calls Safehold's admin API (fault rules) as the admin.
async function admin(cred, method, path, body) {
  const tok = await cred.getToken(scope);
  const r = await fetch(endpoint + "/providers/Safehold.Admin/" + path + "?api-version=2024-01-01",
    { method, headers: { authorization: "Bearer " + tok.token, "content-type": "application/json" }, body: body && JSON.stringify(body) });
  const text = await r.text();
  if (r.status >= 300) fail(`admin ${method} ${path}: ${r.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

async function main() {
  const cred = credential();
  const rm = new ResourceManagementClient(cred, sub, clientOptions);
  const names = ["page-a", "page-b", "page-c", "page-d", "page-e"];
  for (const n of names) await rm.resourceGroups.createOrUpdate(n, { location: "westus" });

  // Pages of two ($top), their continuation token, and paging on from it.
  const every = (await all(rm.resourceGroups.list())).map((g) => g.name);
  for (const n of names) if (!every.includes(n)) fail("the list misses " + n + ": " + every);
  const pages = [];
  let token;
  for await (const page of rm.resourceGroups.list({ top: 2 }).byPage()) {
    if (page.length === 0 || page.length > 2) fail("a page of " + page.length + " groups with $top=2");
    if (pages.length === 0) token = getContinuationToken(page);
    pages.push(page.map((g) => g.name));
  }
  eq("the pages, joined", JSON.stringify(pages.flat()), JSON.stringify(every));
  if (!token) fail("the first page has no continuation token");
  const rest = [];
  for await (const page of rm.resourceGroups.list({ top: 2 }).byPage({ continuationToken: token })) rest.push(...page.map((g) => g.name));
  eq("the pages from the first page's token", JSON.stringify(rest), JSON.stringify(every.slice(pages[0].length)));
  let last;
  for await (const page of rm.resourceGroups.list().byPage()) last = getContinuationToken(page);
  eq("the last page's continuation token", last, undefined);
  step("byPage and continuation tokens");

  // A long-running delete resumed from its poller's state (classic core-lro).
  const del = await rm.resourceGroups.beginDelete("page-a", poll);
  const resumed = await rm.resourceGroups.beginDelete("page-a", { resumeFrom: del.toString(), ...poll });
  await resumed.pollUntilDone();
  eq("page-a after its resumed delete", (await rm.resourceGroups.checkExistence("page-a")).body, false);
  // A poll stopped by an abort signal: the operation goes on, and a
  // poller resumed from the state finishes it.
  const cc = new compute.ComputeManagementClient(cred, sub, clientOptions);
  await cc.disks.createOrUpdate("page-b", "held", { location: "westus", diskSizeGB: 1, creationData: { createOption: "Empty" } }, poll);
  const del2 = await rm.resourceGroups.beginDelete("page-b", poll);
  const ac = new AbortController();
  const stopped = del2.pollUntilDone({ abortSignal: ac.signal });
  ac.abort();
  try {
    await stopped;
    // (The delete may have ended before the abort was seen.)
  } catch (e) {
    if (e.name !== "AbortError") throw e;
  }
  const again = await rm.resourceGroups.beginDelete("page-b", { resumeFrom: del2.toString(), ...poll });
  await again.pollUntilDone();
  eq("page-b after the aborted poll and the resumed one", (await rm.resourceGroups.checkExistence("page-b")).body, false);
  // The modular arm-compute: restorePoller from a serialized state.
  const src = (await cc.disks.createOrUpdate("page-c", "src", { location: "westus", diskSizeGB: 1, creationData: { createOption: "Empty" } }, poll)).id;
  const sp = cc.snapshots.createOrUpdate("page-c", "copy", { location: "westus", creationData: { createOption: "Copy", sourceResourceId: src } }, poll);
  await sp.submitted();
  const snap = await compute.restorePoller(cc, await sp.serialize(), cc.snapshots.createOrUpdate, poll).pollUntilDone();
  eq("the restored poller's snapshot", `${snap.name} ${snap.provisioningState} ${snap.diskSizeGB}`, "copy Succeeded 1");
  step("resumeFrom, restorePoller and abort signals");

  // Recovery Services: pages and a policy delete resumed.
  const rs = new RecoveryServicesClient(cred, sub, clientOptions);
  await rs.vaults.beginCreateOrUpdateAndWait("page-c", "vault1", { location: "westus", sku: { name: "Standard" }, properties: { publicNetworkAccess: "Enabled" } }, poll);
  const bk = new RecoveryServicesBackupClient(cred, sub, clientOptions);
  const R = ["vault1", "page-c"];
  const policyPages = [];
  for await (const page of bk.backupPolicies.list(...R).byPage()) policyPages.push([page.length, rsbToken(page)]);
  if (policyPages.length !== 1 || policyPages[0][0] < 2 || policyPages[0][1] !== undefined) fail("the policies' pages: " + JSON.stringify(policyPages));
  const def = await bk.protectionPolicies.get(...R, "DefaultPolicy");
  await bk.protectionPolicies.createOrUpdate(...R, "copy", { properties: def.properties });
  const pd = await bk.protectionPolicies.beginDelete(...R, "copy", poll);
  await (await bk.protectionPolicies.beginDelete(...R, "copy", { resumeFrom: pd.toString(), ...poll })).pollUntilDone();
  await rejects("the deleted policy", bk.protectionPolicies.get(...R, "copy"), 404);
  step("Recovery Services pages and resumeFrom");

  // The SDK's retries: two 503s, then two 429s (each with Retry-After),
  // on a GET; two 503s on the polls of an operation.
  for (const [status, code] of [[503, "ServerBusy"], [429, "TooManyRequests"]]) {
    await admin(cred, "POST", "faultRules", { name: "busy", operation: "arm", method: "GET", path: "*/resourcegroups/page-d", status, code, count: 2 });
    eq(`the group through two ${status}s`, (await rm.resourceGroups.get("page-d")).name, "page-d");
    const left = (await admin(cred, "GET", "faultRules")).value.filter((r) => r.name === "busy");
    if (left.length !== 0) fail(`the ${status} rule was not spent: ` + JSON.stringify(left));
  }
  await admin(cred, "POST", "faultRules", { name: "busy-polls", operation: "arm", method: "GET", path: "*/operations/*", status: 503, code: "ServerBusy", count: 2 });
  const s2 = await cc.snapshots.createOrUpdate("page-c", "copy2", { location: "westus", creationData: { createOption: "Copy", sourceResourceId: src } }, poll);
  eq("the snapshot through 503 polls", s2.provisioningState, "Succeeded");
  if ((await admin(cred, "GET", "faultRules")).value.some((r) => r.name === "busy-polls")) fail("the polls' 503 rule was not spent");
  step("retries of 503 and 429");

  // Credentials from the environment alone (the test sets AZURE_*).
  for (const [name, c] of [["EnvironmentCredential", new EnvironmentCredential()], ["DefaultAzureCredential", new DefaultAzureCredential()]]) {
    const client = new ResourceManagementClient(c, sub, clientOptions);
    eq(name + ": the group", (await client.resourceGroups.get("page-e")).name, "page-e");
  }
  step("EnvironmentCredential and DefaultAzureCredential");
}

run(main, "clientbehaviour done");
