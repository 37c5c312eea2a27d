// What the scripts of this directory share: the connection (SAFEHOLD_CONNECTION,
// connection.json), what a JS user sets on the credential and on each client,
// and the helpers that report steps and wait.
"use strict";
const fs = require("node:fs");
const { ClientSecretCredential } = require("@azure/identity");

const conn = JSON.parse(fs.readFileSync(process.env.SAFEHOLD_CONNECTION, "utf8"));
const endpoint = conn.armEndpoint;
const scope = endpoint + "/.default";

// What a JS user sets: the authority host and no instance discovery on the
// credential; the endpoint and token scope on each client (arm-compute 24
// reads credentials.scopes, the older generators credentialScopes, the
// ms-rest generator of arm-authorization 8 baseUri).
function credential(clientId, secret) {
  return new ClientSecretCredential(conn.tenantId, clientId || conn.clientId, secret || conn.clientSecret, { authorityHost: conn.authorityHost, disableInstanceDiscovery: true });
}
const clientOptions = { endpoint, baseUri: endpoint, credentialScopes: [scope], credentials: { scopes: [scope] } };

const t0 = Date.now();
function step(name) { console.log(`ok ${name} (${((Date.now() - t0) / 1000).toFixed(1)}s)`); }
function fail(msg) { throw new Error(msg); }
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function waitUntil(what, fn) {
  for (let i = 0; i < 600; i++) {
    if (await fn()) return;
    await sleep(200);
  }
  fail("timed out waiting for " + what);
}
// all collects a list: a paged iterator, or (ms-rest generators) a promise of one page.
async function all(iter) {
  if (typeof iter.then === "function") return [...(await iter)];
  const out = [];
  for await (const x of iter) out.push(x);
  return out;
}
function eq(what, got, want) { if (got !== want) fail(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`); }
// rejects expects p to fail with HTTP status (and ARM error code, when given).
async function rejects(what, p, status, code) {
  try { await p; } catch (e) {
    if (e.statusCode !== status || (code && e.code !== code)) fail(`${what}: got ${e.statusCode} ${e.code}, want ${status} ${code || ""}: ${e.message}`);
    return e;
  }
  fail(what + ": succeeded, want " + status);
}
const poll = { updateIntervalInMs: 200 };
// lro calls a long-running operation the way the package's generator names
// it: begin…AndWait before arm-compute 24, the plain name (a poller one
// awaits) after.
function lro(group, name, ...args) {
  const b = "begin" + name[0].toUpperCase() + name.slice(1) + "AndWait";
  return typeof group[b] === "function" ? group[b](...args, poll) : group[name](...args, poll);
}
// opID is the last segment of an operation URL (Location, Azure-AsyncOperation).
const opID = (u) => decodeURIComponent(new URL(u).pathname.split("/").pop());
// jobDone waits for the newest job of operation (Backup, Restore) in the
// vault to complete (bk: a RecoveryServicesBackupClient, R: vault and
// group), failing on a failed one.
async function jobDone(bk, R, operation) {
  await waitUntil(operation.toLowerCase() + " job", async () => {
    const jobs = await all(bk.backupJobs.list(...R, { filter: `operation eq '${operation}'` }));
    if (jobs[0] && jobs[0].properties.status === "Failed") fail(operation + " failed " + JSON.stringify(jobs[0]));
    return jobs[0] && jobs[0].properties.status === "Completed";
  });
}
// run runs main, printing done at the end, or the failure (and the
// response it came with) and exit status 1.
function run(main, done) {
  main().then(() => console.log(done), (e) => {
    console.error("FAIL:", e && (e.stack || e));
    if (e && e.response) console.error(e.response.status, e.response.bodyAsText);
    process.exit(1);
  });
}

// The test servers run at real time, so a schedule a script makes must keep
// its runs away from the script's steps whatever the hour it runs at (a
// CI run across 02:00 UTC saw a backup no step asked for). quietTime is a
// daily or weekly run time about twelve hours from now, on the hour: its
// runs come 11 to 13 hours from any moment of the script.
// scheduleStart starts a repeating (PT4H) schedule two hours from now: it
// never runs before its start.
const quietTime = () => new Date(Math.floor((Date.now() + 12 * 3600e3) / 3600e3) * 3600e3);
const scheduleStart = () => new Date(Date.now() + 2 * 3600e3).toISOString().slice(0, 16) + ":00+00:00";

module.exports = { conn, endpoint, scope, sub: conn.subscriptionId, credential, clientOptions, step, fail, sleep, waitUntil, all, run, eq, rejects, poll, lro, opID, jobDone, quietTime, scheduleStart };
