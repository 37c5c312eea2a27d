// Safehold dashboard: signs in through Safehold's token endpoint and reads
// the ARM API like any SDK client. DOM is built with textContent only.
"use strict";

const V = { dp: "2024-04-01", rsVault: "2023-04-01", rs: "2024-04-01", disk: "2024-03-02", vm: "2024-11-01", res: "2021-04-01" };
let cfg = null, token = null, tab = "overview", timer = null;

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else if (k === "style") e.style.width = v; else e.setAttribute(k, v);
  }
  for (const k of kids.flat()) {
    if (k === null || k === undefined) continue;
    e.appendChild(typeof k === "string" || typeof k === "number" ? document.createTextNode(String(k)) : k);
  }
  return e;
}

function table(headers, rows) {
  if (!rows.length) return el("p", {}, "None.");
  return el("table", {}, el("tr", {}, headers.map(h => el("th", {}, h))), rows.map(r => el("tr", {}, r.map(c => el("td", {}, c)))));
}

function stateCell(s) {
  const v = String(s || "");
  const cls = /succeeded|completed|protected|configured|healthy|passed|^ok$/i.test(v) ? "ok"
    : /fail|error|cancel|unhealthy/i.test(v) ? "bad" : /progress|running|pending|configuring|provisioning/i.test(v) ? "run" : "";
  return el("span", { class: cls }, v);
}

function when(t) { return t ? new Date(t).toLocaleString() : ""; }
function gib(b) { return b ? (b / 1073741824).toFixed(2) + " GiB" : ""; }

async function arm(path) {
  const r = await fetch(path, { headers: { Authorization: "Bearer " + token } });
  if (r.status === 401) { signOut(); throw new Error("signed out"); }
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error((body.error && (body.error.code + ": " + body.error.message)) || r.statusText);
  return body;
}

async function list(path) {
  let out = [], next = path;
  for (let i = 0; next && i < 20; i++) {
    const page = await arm(next);
    out = out.concat(page.value || []);
    next = page.nextLink ? new URL(page.nextLink).pathname + new URL(page.nextLink).search : null;
  }
  return out;
}

async function safe(p) { try { return await p; } catch (e) { return { error: e.message }; } }

async function load() {
  const s = "/subscriptions/" + cfg.subscriptionId;
  const [dpVaults, rsVaults, disks, vms, snaps] = await Promise.all([
    safe(list(s + "/providers/Microsoft.DataProtection/backupVaults?api-version=" + V.dp)),
    safe(list(s + "/providers/Microsoft.RecoveryServices/vaults?api-version=" + V.rsVault)),
    safe(list(s + "/providers/Microsoft.Compute/disks?api-version=" + V.disk)),
    safe(list(s + "/providers/Microsoft.Compute/virtualMachines?api-version=" + V.vm)),
    safe(list(s + "/providers/Microsoft.Compute/snapshots?api-version=" + V.disk)),
  ]);
  const dp = [], rs = [];
  for (const v of Array.isArray(dpVaults) ? dpVaults : []) {
    const [bis, jobs] = await Promise.all([safe(list(v.id + "/backupInstances?api-version=" + V.dp)), safe(list(v.id + "/backupJobs?api-version=" + V.dp))]);
    dp.push({ vault: v, items: Array.isArray(bis) ? bis : [], jobs: Array.isArray(jobs) ? jobs : [] });
  }
  for (const v of Array.isArray(rsVaults) ? rsVaults : []) {
    const [items, jobs] = await Promise.all([safe(list(v.id + "/backupProtectedItems?api-version=" + V.rs)), safe(list(v.id + "/backupJobs?api-version=" + V.rs))]);
    rs.push({ vault: v, items: Array.isArray(items) ? items : [], jobs: Array.isArray(jobs) ? jobs : [] });
  }
  const arr = x => Array.isArray(x) ? x : [];
  return { dp, rs, disks: arr(disks), vms: arr(vms), snaps: arr(snaps) };
}

function allJobs(d) {
  const jobs = [];
  for (const { vault, jobs: js } of d.dp) for (const j of js) {
    const p = j.properties || {};
    jobs.push({ vault: vault.name, kind: "Backup vault", item: p.dataSourceName || p.backupInstanceFriendlyName || "", op: p.operation || p.operationCategory || "", status: p.status, start: p.startTime, end: p.endTime, bytes: p.extendedInfo && p.extendedInfo.dataTransferredInBytes, progress: p.progressUrl ? null : null, error: (p.errorDetails || []).map(e => e.message).join("; ") });
  }
  for (const { vault, jobs: js } of d.rs) for (const j of js) {
    const p = j.properties || {};
    jobs.push({ vault: vault.name, kind: "Recovery Services", item: p.entityFriendlyName || "", op: p.operation || "", status: p.status, start: p.startTime, end: p.endTime, error: ((p.errorDetails || []).map(e => e.errorString || e.errorTitle || "")).join("; "),
      progress: p.extendedInfo && p.extendedInfo.progressPercentage });
  }
  jobs.sort((a, b) => String(b.start).localeCompare(String(a.start)));
  return jobs;
}

function progressBar(p) {
  if (p === undefined || p === null) return "";
  return el("span", {}, el("span", { class: "bar" }, el("i", { style: Math.max(0, Math.min(100, p)) + "%" })), " " + Math.round(p) + "%");
}

function render(d) {
  const view = document.getElementById("view");
  view.replaceChildren();
  const jobs = allJobs(d);
  if (tab === "overview") {
    const items = d.dp.reduce((n, x) => n + x.items.length, 0) + d.rs.reduce((n, x) => n + x.items.length, 0);
    const running = jobs.filter(j => /progress/i.test(j.status || "")).length;
    const failed = jobs.filter(j => /fail/i.test(j.status || "")).length;
    view.append(el("div", { class: "cards" },
      [["Backup vaults", d.dp.length], ["Recovery Services vaults", d.rs.length], ["Protected items", items], ["Jobs running", running], ["Jobs failed", failed], ["Disks", d.disks.length], ["VMs", d.vms.length], ["Snapshots", d.snaps.length]]
        .map(([k, v]) => el("div", { class: "card" }, el("b", {}, v), k))));
    view.append(el("h2", {}, "Recent jobs"), jobTable(jobs.slice(0, 15)));
  } else if (tab === "jobs") {
    view.append(el("h2", {}, "All jobs"), jobTable(jobs));
  } else if (tab === "dp") {
    for (const { vault, items } of d.dp) {
      view.append(el("h2", {}, vault.name + " (" + vault.location + ")"),
        table(["Backup instance", "Datasource", "Policy", "Protection", "State"], items.map(i => {
          const p = i.properties || {};
          return [i.name, (p.dataSourceInfo || {}).resourceName || "", ((p.policyInfo || {}).policyId || "").split("/").pop(), stateCell((p.protectionStatus || {}).status), stateCell(p.currentProtectionState || p.provisioningState)];
        })));
    }
    if (!d.dp.length) view.append(el("p", {}, "No Backup vaults."));
  } else if (tab === "rs") {
    for (const { vault, items } of d.rs) {
      view.append(el("h2", {}, vault.name + " (" + vault.location + ")"),
        table(["Item", "Policy", "Protection state", "Health", "Last backup", "Recovery points"], items.map(i => {
          const p = i.properties || {};
          return [p.friendlyName || i.name, (p.policyId || "").split("/").pop(), stateCell(p.protectionState), stateCell(p.healthStatus), when(p.lastBackupTime), String(((p.extendedInfo || {}).recoveryPointCount) || 0)];
        })));
    }
    if (!d.rs.length) view.append(el("p", {}, "No Recovery Services vaults."));
  } else if (tab === "compute") {
    view.append(el("h2", {}, "Disks"), table(["Name", "Resource group", "Size", "State", "Attached to"], d.disks.map(x => {
      const p = x.properties || {};
      return [x.name, x.id.split("/")[4], gib(p.diskSizeBytes), stateCell(p.diskState), (x.managedBy || "").split("/").pop()];
    })));
    view.append(el("h2", {}, "Virtual machines"), table(["Name", "Resource group", "Disks"], d.vms.map(x => {
      const sp = (x.properties || {}).storageProfile || {};
      const names = [sp.osDisk].concat(sp.dataDisks || []).filter(Boolean).map(k => ((k.managedDisk || {}).id || k.name || "").split("/").pop());
      return [x.name, x.id.split("/")[4], names.join(", ")];
    })));
    view.append(el("h2", {}, "Snapshots"), table(["Name", "Resource group", "Source", "Incremental", "Created"], d.snaps.map(x => {
      const p = x.properties || {};
      return [x.name, x.id.split("/")[4], ((p.creationData || {}).sourceResourceId || "").split("/").pop(), String(!!p.incremental), when(p.timeCreated)];
    })));
  }
}

function jobTable(jobs) {
  return table(["Started", "Vault", "Item", "Operation", "Status", "Progress", "Ended", "Error"],
    jobs.map(j => [when(j.start), j.vault, j.item, j.op, stateCell(j.status), progressBar(j.progress), when(j.end), j.error || ""]));
}

async function refresh() {
  const st = document.getElementById("status");
  try {
    const d = await load();
    render(d);
    st.textContent = "Updated " + new Date().toLocaleTimeString() + " · refreshes every 5 s";
  } catch (e) { st.textContent = e.message; }
}

async function signIn(clientId, secret) {
  const body = new URLSearchParams({ grant_type: "client_credentials", client_id: clientId, client_secret: secret, scope: location.origin + "/.default" });
  const r = await fetch("/" + cfg.tenantId + "/oauth2/v2.0/token", { method: "POST", body });
  const j = await r.json();
  if (!r.ok) throw new Error(j.error_description || j.error || r.statusText);
  return j.access_token;
}

function signOut() {
  token = null; sessionStorage.removeItem("safehold-token");
  clearInterval(timer);
  show();
}

function show() {
  document.getElementById("login").hidden = !!token;
  document.getElementById("app").hidden = !token;
  document.getElementById("signout").hidden = !token;
  document.getElementById("who").textContent = token ? "subscription " + cfg.subscriptionId : "";
  if (token) { refresh(); clearInterval(timer); timer = setInterval(refresh, 5000); }
}

async function main() {
  cfg = await (await fetch("config.json")).json();
  token = sessionStorage.getItem("safehold-token");
  document.getElementById("loginform").addEventListener("submit", async ev => {
    ev.preventDefault();
    try {
      token = await signIn(document.getElementById("clientId").value.trim(), document.getElementById("clientSecret").value);
      sessionStorage.setItem("safehold-token", token);
      document.getElementById("loginerr").textContent = "";
      show();
    } catch (e) { document.getElementById("loginerr").textContent = e.message; }
  });
  document.getElementById("signout").addEventListener("click", signOut);
  for (const b of document.querySelectorAll("#tabs button")) {
    b.addEventListener("click", () => {
      tab = b.dataset.tab;
      for (const x of document.querySelectorAll("#tabs button")) x.classList.toggle("on", x === b);
      refresh();
    });
  }
  show();
}

main();
