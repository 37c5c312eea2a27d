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
// run runs main, printing done at the end, or the failure (and the
// response it came with) and exit status 1.
function run(main, done) {
  main().then(() => console.log(done), (e) => {
    console.error("FAIL:", e && (e.stack || e));
    if (e && e.response) console.error(e.response.status, e.response.bodyAsText);
    process.exit(1);
  });
}

module.exports = { conn, endpoint, scope, sub: conn.subscriptionId, credential, clientOptions, step, fail, sleep, waitUntil, all, run };
