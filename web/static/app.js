// Safehold dashboard: signs in through Safehold's token endpoint and reads
// and acts through the ARM API like any SDK client, so RBAC applies to
// everything it shows and does. DOM is built with textContent only.
"use strict";

const V = { dp: "2024-04-01", rsVault: "2023-04-01", rs: "2024-04-01", disk: "2024-03-02", vm: "2024-11-01", usage: "2024-01-01", authz: "2022-04-01" };
// The actions the dashboard's buttons ask for, by vault kind: a button the
// signed-in principal's roles at the vault do not allow is disabled and says
// which action it lacks (the server refuses it anyway: the roles are read
// for the page, not trusted by the server).
const ACTIONS = {
  dp: { backup: "Microsoft.DataProtection/backupVaults/backupInstances/backup/action", stop: "Microsoft.DataProtection/backupVaults/backupInstances/stopProtection/action",
    resume: "Microsoft.DataProtection/backupVaults/backupInstances/resumeProtection/action", restore: "Microsoft.DataProtection/backupVaults/backupInstances/restore/action" },
  rs: { backup: "Microsoft.RecoveryServices/vaults/backupFabrics/protectionContainers/protectedItems/backup/action", stop: "Microsoft.RecoveryServices/vaults/backupFabrics/protectionContainers/protectedItems/write",
    resume: "Microsoft.RecoveryServices/vaults/backupFabrics/protectionContainers/protectedItems/write", restore: "Microsoft.RecoveryServices/vaults/backupFabrics/protectionContainers/protectedItems/recoveryPoints/restore/action" },
};
// A vault's permissions for the signed-in principal (Microsoft.Authorization
// permissions at the vault), read again after PERMS_TTL or an action's 403.
const permsCache = new Map(); // vault id -> { at, perms }
const PERMS_TTL = 30000;
let cfg = null, token = null, tab = "overview", timer = null, data = null;
let selected = null;      // item id whose recovery points are shown
let selectedJob = null;   // job id whose details are shown
let flash = "", flashBad = false; // last action's outcome, and whether it failed
// The Jobs view's status filter ("": every job): the failed jobs of a long
// list are what an operator looks for first.
const JOB_STATUSES = [["", "All statuses"], ["Failed", "Failed"], ["InProgress", "In progress"], ["Completed", "Completed"], ["Cancelled", "Cancelled"]];
let jobStatus = "";
// The Jobs view draws the newest JOBS_PAGE of its jobs, and more on asking
// (a month's jobs are thousands of rows, drawn again every second while a
// job runs); a new window or filter starts again at one page.
const JOBS_PAGE = 200;
let jobsShown = JOBS_PAGE;
function statusIs(j, want) {
  const s = String(j.status || "");
  return !want || (want === "Failed" ? /fail/i.test(s) : want === "InProgress" ? /progress|cancelling/i.test(s) : want === "Cancelled" ? /^cancelled$/i.test(s) : s === want);
}
// The jobs shown: those started in the last windowDays (the operator's
// choice, kept in localStorage), at most JOB_CAP per vault (the newest; a
// vault with more says so on the page: never a silent cap).
const WINDOWS = [[1, "24 hours"], [7, "7 days"], [30, "30 days"], [180, "180 days"]];
const JOB_CAP = 1000;
let windowDays = WINDOWS.some(w => w[0] === +localStorage.getItem("safehold-window")) ? +localStorage.getItem("safehold-window") : 7;
// Recovery points are read again only when needed: an item's when it is
// new, a job of its vault and item ended since the last load, or the items
// view was opened (pointsStale); otherwise the last read is kept, so the
// refresh every second while a job runs does not read every item's points.
const pointsCache = new Map(); // item id -> points
let pointsStale = true, lastJobs = new Map(), lastLoad = 0;
// Jobs still running that started before the window are shown too, until
// they end: a Recovery Services vault's are asked for by $filter status eq
// 'InProgress'; a Backup vault's list takes no filter (as Azure's), so the
// jobs seen running in earlier loads (of any window, kept in localStorage
// across reloads) are followed: read by GET while the window's list lacks
// them. A followed job that ended stays shown for the page's life (ended
// keeps its last answer) so its end is seen, not a row that vanishes.
let following = new Set();
try { following = new Set(JSON.parse(localStorage.getItem("safehold-running") || "[]")); } catch (e) { following = new Set(); }
const followedEnded = new Map(); // job id (lower case) -> the job as last read, ended
const charts = {};
// The server's clock leads the views (next backups, the jobs' window, the
// charts, the timeline), not the browser's: the server's may have been
// moved (safehold clock set/advance). skew is the server's time less the
// browser's, from the usage's measuredAt (read every load; the last known
// skew is kept while it cannot be read).
let skew = 0;
function serverNow() { return Date.now() + skew; }

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k === "onclick") e.addEventListener("click", v);
    else if (k === "width") e.style.width = v;
    else if (k === "left") e.style.left = v;
    else e.setAttribute(k, v);
  }
  for (const k of kids.flat()) {
    if (k === null || k === undefined || k === false) continue;
    e.appendChild(typeof k === "string" || typeof k === "number" ? document.createTextNode(String(k)) : k);
  }
  return e;
}

// table is rows under headers, or empty (a sentence saying what is not
// there, and what to do about it) when there are none.
function table(headers, rows, rowAttrs, empty) {
  if (!rows.length) return el("p", { class: "note empty" }, empty || "None.");
  return el("table", {}, el("tr", {}, headers.map(h => el("th", {}, h))),
    rows.map((r, i) => el("tr", rowAttrs ? rowAttrs(i) : {}, r.map(c => el("td", {}, c)))));
}

function stateCell(s) {
  const v = String(s || "");
  const cls = /succeeded|completed|protected|configured|healthy|passed|^ok$/i.test(v) ? "ok"
    : /fail|error|cancel|unhealthy|stopped/i.test(v) ? "bad" : /progress|running|pending|configuring|provisioning|suspended/i.test(v) ? "run" : "";
  return el("span", { class: cls }, v);
}

function when(t) { return t && !/^0001|^2001-01-01/.test(t) ? new Date(t).toLocaleString() : ""; }
// duration reads an ISO 8601 duration (PT1H2M3.5S) as "1 h 2 min 4 s";
// another form shows as it is.
function duration(d) {
  const m = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:([\d.]+)S)?)?$/.exec(String(d || ""));
  if (!m) return d || "";
  const [, dd, h, min, sec] = m.map(x => +x || 0), parts = [];
  if (dd) parts.push(dd + " d");
  if (h) parts.push(h + " h");
  if (min) parts.push(min + " min");
  if (sec || !parts.length) parts.push(Math.round(sec) + " s");
  return parts.join(" ");
}

function bytes(b) {
  if (!b) return "0 B";
  const u = ["B", "KiB", "MiB", "GiB", "TiB"]; let i = 0;
  while (b >= 1024 && i < u.length - 1) { b /= 1024; i++; }
  return b.toFixed(i ? 1 : 0) + " " + u[i];
}

// allowed says whether perms (a permissions list: actions and notActions
// with * wildcards, case-insensitive, as Azure matches them) allow action;
// unknown perms (null: they could not be read) allow it, and the server
// decides.
function allowed(perms, action) {
  if (!perms) return true;
  const m = pat => new RegExp("^" + String(pat).split("*").map(x => x.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")).join(".*") + "$", "i").test(action);
  return perms.some(p => (p.actions || []).some(m) && !(p.notActions || []).some(m));
}

async function vaultPerms(v, safe) {
  const c = permsCache.get(v.id);
  if (c && Date.now() - c.at < PERMS_TTL) return c.perms;
  const perms = await safe(list(v.id + "/providers/Microsoft.Authorization/permissions?api-version=" + V.authz), null);
  if (perms) permsCache.set(v.id, { at: Date.now(), perms });
  return perms;
}

async function arm(path, method, body) {
  const opts = { method: method || "GET", headers: { Authorization: "Bearer " + token } };
  if (body !== undefined) { opts.body = JSON.stringify(body); opts.headers["Content-Type"] = "application/json"; }
  const r = await fetch(path, opts);
  if (r.status === 401) {
    // The token expired (they last an hour) or was revoked: say so on the
    // sign-in form rather than drop the operator there without a word.
    const was = token;
    if (was) signOut("Your sign-in ended (" + ((j => (j.error && j.error.message) || r.statusText)(await r.json().catch(() => ({})))) + "): sign in again.");
    throw new Error("signed out");
  }
  const text = await r.text();
  let j = {};
  try { j = text ? JSON.parse(text) : {}; } catch (e) { j = {}; }
  if (!r.ok) {
    if (r.status === 403) permsCache.clear();
    const e = new Error((j.error && (j.error.code + ": " + j.error.message)) || r.status + " " + r.statusText);
    e.request = opts.method + " " + path.split("?")[0];
    e.status = r.status;
    throw e;
  }
  return { body: j, headers: r.headers, status: r.status };
}

async function get(path) { return (await arm(path)).body; }

// list reads every page of a list, or, with max, at most max items: the
// answer's cut is true when more remained (a view must say so). With keep,
// of a list ordered newest first, it keeps the items keep accepts and stops
// at the first page holding one it refuses (the rest are older).
async function list(path, opts) {
  const { max = Infinity, keep = null } = opts || {};
  let out = [], next = path, cut = false;
  const seen = new Set();
  while (next && !seen.has(next)) {
    seen.add(next);
    const page = await get(next), vals = page.value || [], kept = keep ? vals.filter(keep) : vals;
    out = out.concat(kept);
    next = page.nextLink ? new URL(page.nextLink).pathname + new URL(page.nextLink).search : null;
    if (kept.length < vals.length) break;
    if (out.length > max) { cut = true; break; }
  }
  if (out.length > max) { out = out.slice(0, max); cut = true; }
  out.cut = cut;
  return out;
}

// --- schedules: the next run of a policy after now ---

function nextDP(policy, now) {
  let best = null;
  for (const r of ((policy || {}).properties || {}).policyRules || []) {
    const ivs = (((r.trigger || {}).schedule || {}).repeatingTimeIntervals) || [];
    for (const iv of ivs) {
      const m = /^R(\d*)\/([^/]+)\/P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?$/.exec(iv);
      if (!m) continue;
      const start = Date.parse(m[2]);
      const step = ((+m[3] || 0) * 24 * 3600 + (+m[4] || 0) * 3600 + (+m[5] || 0) * 60) * 1000;
      if (!step || isNaN(start)) continue;
      const t = now <= start ? start : start + Math.ceil((now - start) / step) * step;
      if (!best || t < best) best = t;
    }
  }
  return best;
}

function nextRS(policy, now) {
  const sp = ((policy || {}).properties || {}).schedulePolicy || {};
  const times = (sp.scheduleRunTimes || ((sp.dailySchedule || {}).scheduleRunTimes) || ((sp.weeklySchedule || {}).scheduleRunTimes) || []).map(t => new Date(t));
  const days = (sp.scheduleRunDays || ((sp.weeklySchedule || {}).scheduleRunDays) || []).map(d => ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"].indexOf(d));
  if (sp.hourlySchedule) {
    const h = sp.hourlySchedule, start = new Date(h.scheduleWindowStartTime), step = (h.interval || 4) * 3600000;
    const base = Date.UTC(new Date(now).getUTCFullYear(), new Date(now).getUTCMonth(), new Date(now).getUTCDate(), start.getUTCHours(), start.getUTCMinutes());
    for (let t = base - 86400000; t < now + 2 * 86400000; t += step) if (t > now) return t;
  }
  let best = null;
  for (let d = 0; d < 8; d++) {
    const day = new Date(now + d * 86400000);
    if ((sp.scheduleRunFrequency === "Weekly" || sp.weeklySchedule) && days.length && !days.includes(day.getUTCDay())) continue;
    for (const t of times) {
      const c = Date.UTC(day.getUTCFullYear(), day.getUTCMonth(), day.getUTCDate(), t.getUTCHours(), t.getUTCMinutes());
      if (c > now && (!best || c < best)) best = c;
    }
  }
  return best;
}

// --- loading ---

// load reads everything the views show. A list it could not read shows
// empty, and its error is kept in errors, which the status line shows: an
// empty list must not hide that the list failed.
async function load() {
  const s = "/subscriptions/" + cfg.subscriptionId;
  const errors = [];
  const safe = async (p, fallback) => {
    try { return await p; } catch (e) { errors.push((e.request ? e.request + ": " : "") + e.message); return fallback === undefined ? [] : fallback; }
  };
  const [dpVaults, rsVaults, disks, vms, snaps, usage] = await Promise.all([
    safe(list(s + "/providers/Microsoft.DataProtection/backupVaults?api-version=" + V.dp)),
    safe(list(s + "/providers/Microsoft.RecoveryServices/vaults?api-version=" + V.rsVault)),
    safe(list(s + "/providers/Microsoft.Compute/disks?api-version=" + V.disk)),
    safe(list(s + "/providers/Microsoft.Compute/virtualMachines?api-version=" + V.vm)),
    safe(list(s + "/providers/Microsoft.Compute/snapshots?api-version=" + V.disk)),
    safe(get(s + "/providers/Safehold.Storage/usage/default?api-version=" + V.usage).then(u => {
      const t = Date.parse(((u || {}).properties || {}).measuredAt);
      if (!isNaN(t)) skew = t - Date.now();
      return u;
    }), null),
  ]);
  const now = serverNow(), items = [], jobs = [], cuts = [], days = windowDays, from = now - days * 86400000;
  const stale = pointsStale, since = lastLoad, seenJobs = new Map(), nowRunning = [], keepFollowing = [];
  pointsStale = false;
  // The jobs the window holds, newest first: a Recovery Services vault's
  // list filters by $filter startTime (Azure's spelling); a Backup vault's
  // takes no filter (as Azure's), so its pages are read until one reaches
  // past the window's start.
  const inWindow = j => { const t = Date.parse((j.properties || {}).startTime); return isNaN(t) || t >= from; };
  const jobsPath = (v, version) => v.id + "/backupJobs?api-version=" + version +
    (/recoveryservices/i.test(v.type || "") ? "&$filter=" + encodeURIComponent("startTime eq '" + new Date(from).toISOString() + "'") : "");
  // One vault of either kind: its jobs, and its items with their recovery
  // points (newest first); point and item read what differs by kind.
  const loadVault = async (v, version, itemsPath, job, point, item) => {
    const rs = /recoveryservices/i.test(v.type || "");
    const [its, js, pols, running, perms] = await Promise.all([safe(list(v.id + "/" + itemsPath + "?api-version=" + version)), safe(list(jobsPath(v, version), { max: JOB_CAP, keep: inWindow })),
      safe(list(v.id + "/backupPolicies?api-version=" + version)),
      rs ? safe(list(v.id + "/backupJobs?api-version=" + version + "&$filter=" + encodeURIComponent("status eq 'InProgress'"))) : [], vaultPerms(v, safe)]);
    const acts = ACTIONS[rs ? "rs" : "dp"], can = {};
    for (const k of Object.keys(acts)) can[k] = allowed(perms, acts[k]) ? "" : acts[k];
    if (js.cut) cuts.push({ vault: v.name, kind: rs ? "Recovery Services" : "Backup vault" });
    // The running jobs older than the window, and the followed ones the
    // lists lack (read by GET; one gone, 404, is no longer followed).
    const have = new Set(js.map(j => String(j.id).toLowerCase())), prefix = v.id.toLowerCase() + "/";
    const add = j => { if (j && j.id && !have.has(String(j.id).toLowerCase())) { have.add(String(j.id).toLowerCase()); js.push(j); } };
    running.forEach(add);
    const missing = [...following].filter(id => id.toLowerCase().startsWith(prefix) && !have.has(id.toLowerCase()));
    (await Promise.all(missing.map(id => get(id + "?api-version=" + version).catch(e => {
      if (e.status !== 404) { keepFollowing.push(id); errors.push((e.request ? e.request + ": " : "") + e.message); }
      return null;
    })))).forEach(add);
    for (const [id, j] of followedEnded) if (id.startsWith(prefix)) add(j);
    // The jobs that ended since the last load: their items' points change.
    const ended = [];
    for (const j of js) {
      const x = job(v, j), before = lastJobs.get(x.id), end = Date.parse(x.end);
      jobs.push(x);
      seenJobs.set(x.id, x.status);
      if (/progress|cancelling/i.test(x.status || "")) nowRunning.push(x.id);
      else if (following.has(x.id) || followedEnded.has(String(x.id).toLowerCase())) followedEnded.set(String(x.id).toLowerCase(), j);
      if (!/progress|cancelling/i.test(x.status || "") && (before ? /progress|cancelling/i.test(before) : end >= since - 60000)) ended.push(x.item);
    }
    await Promise.all(its.map(async it => {
      const p = it.properties || {}, name = p.friendlyName || it.name, ds = (p.dataSourceInfo || {}).resourceName || (p.sourceResourceId || "").split("/").pop();
      const fresh = stale || !pointsCache.has(it.id) || ended.some(n => n === name || n === ds || n === it.name || !its.some(o => o.name === n || (o.properties || {}).friendlyName === n));
      let points = pointsCache.get(it.id);
      if (fresh) {
        let failed = false;
        const pts = await safe(list(it.id + "/recoveryPoints?api-version=" + version).catch(e => { failed = true; throw e; }));
        points = pts.map(x => { const q = x.properties || {}; return { name: x.name, id: x.id, time: q.recoveryPointTime, type: q.recoveryPointType, ...point(q) }; });
        points.sort((a, b) => String(b.time).localeCompare(String(a.time)));
        if (failed) pointsCache.delete(it.id); else pointsCache.set(it.id, points);
      }
      items.push(Object.assign(item(it, p, points, pols), { can }));
    }));
  };
  await Promise.all(dpVaults.map(v => loadVault(v, V.dp, "backupInstances", dpJob, q => ({ tag: q.retentionTagName, expiry: q.expiryTime,
    // Partial: not all of the point's data is there (a verify found it damaged).
    damaged: /^partial$/i.test(q.recoveryPointState || "") ? "not all of its data is intact (recoveryPointState " + q.recoveryPointState + ")" : "" }), (bi, p, points, pols) => {
    const pol = pols.find(x => x.id.toLowerCase() === String((p.policyInfo || {}).policyId).toLowerCase());
    const state = p.currentProtectionState || p.provisioningState;
    return { kind: "dp", id: bi.id, name: bi.name, vault: v, datasource: (p.dataSourceInfo || {}).resourceName || "", datasourceId: (p.dataSourceInfo || {}).resourceID || "",
      location: (p.dataSourceInfo || {}).resourceLocation || v.location, policy: ((p.policyInfo || {}).policyId || "").split("/").pop(), state,
      health: (p.protectionStatus || {}).status || "", last: points.length ? points[0].time : null,
      next: /configured/i.test(state || "") ? nextDP(pol, now) : null, points, stopped: /stopped|suspended/i.test(state || "") };
  })));
  await Promise.all(rsVaults.map(v => loadVault(v, V.rs, "backupProtectedItems", rsJob, q => {
    // No tier of the point restores it (each Invalid; the additional info
    // says why): a verify found it damaged.
    const tiers = q.recoveryPointTierDetails || [], info = q.recoveryPointAdditionalInfo || "";
    const invalid = tiers.length > 0 && tiers.every(t => /^invalid$/i.test(t.status || "") || /^deleted$/i.test(t.status || "")) && tiers.some(t => /^invalid$/i.test(t.status || ""));
    return { tag: ((q.recoveryPointProperties || {}).ruleName || "").replace(/Rule$/, ""), expiry: (q.recoveryPointProperties || {}).expiryTime || null,
      damaged: invalid || /^damaged/i.test(info) ? (info.replace(/^damaged:\s*/i, "") || "no tier of it is valid") : "",
      tiers: tiers.filter(t => /^valid$|^rehydrated$/i.test(t.status || "")).map(t => ({ InstantRP: "snapshot", HardenedRP: "vault", ArchivedRP: "archive" })[t.type] || t.type).join(", ") };
  }, (it, p, points, pols) => {
    const pol = pols.find(x => x.id.toLowerCase() === String(p.policyId).toLowerCase());
    const stopped = /stopped|suspended/i.test(p.protectionState || "");
    return { kind: "rs", id: it.id, name: p.friendlyName || it.name, vault: v, datasource: (p.sourceResourceId || "").split("/").pop(), datasourceId: p.sourceResourceId,
      policy: p.policyName || (p.policyId || "").split("/").pop(), policyId: p.policyId, state: p.protectionState, health: p.healthStatus,
      last: when(p.lastBackupTime) ? p.lastBackupTime : (points.length ? points[0].time : null), next: stopped ? null : nextRS(pol, now), points, stopped };
  })));
  items.sort((a, b) => (a.vault.name + a.name).localeCompare(b.vault.name + b.name));
  jobs.sort((a, b) => String(b.start).localeCompare(String(a.start)));
  for (const id of pointsCache.keys()) if (!items.some(it => it.id === id)) pointsCache.delete(id);
  lastJobs = seenJobs;
  following = new Set(nowRunning.concat(keepFollowing));
  try { localStorage.setItem("safehold-running", JSON.stringify([...following])); } catch (e) { /* private mode: followed for this page only */ }
  lastLoad = now;
  return { now, dpVaults, rsVaults, items, jobs, cuts, days, disks, vms, snaps, usage, errors };
}

function dpJob(v, j) {
  const p = j.properties || {}, x = p.extendedInfo || {};
  let progress = null;
  for (const t of x.subTasks || []) { const n = parseFloat(String(t.taskProgress || "")); if (!isNaN(n)) progress = n; }
  if (p.status === "Completed") progress = 100;
  return { id: j.id, name: j.name, vault: v.name, kind: "Backup vault", item: p.backupInstanceFriendlyName || p.dataSourceName || "", op: p.operation || p.operationCategory || "",
    status: p.status, start: p.startTime, end: p.endTime, bytes: x.dataTransferredInBytes, progress, duration: p.duration,
    tasks: (x.subTasks || []).map(t => [t.taskName, t.taskStatus, t.taskProgress || ""]), target: x.recoveryDestination || "",
    waiting: (x.additionalDetails || {}).Waiting || "",
    error: (p.errorDetails || []).map(e => (e.code ? e.code + ": " : "") + e.message).join("; "),
    fix: (p.errorDetails || []).flatMap(e => e.recommendedAction || []).join(" ") };
}

// bag is a number of a Recovery Services job's propertyBag (null when it
// has none).
function bag(x, key) {
  const v = (x.propertyBag || {})[key];
  return v === undefined || v === "" || isNaN(Number(v)) ? null : Number(v);
}

function rsJob(v, j) {
  const p = j.properties || {}, x = p.extendedInfo || {};
  let progress = x.progressPercentage;
  if (p.status === "Completed") progress = 100;
  return { id: j.id, name: j.name, vault: v.name, kind: "Recovery Services", item: p.entityFriendlyName || "", op: p.operation || "", status: p.status, start: p.startTime, end: p.endTime,
    // A backup's bytes moved to the vault: exact in the propertyBag
    // ("Backup Size" has them in MB).
    progress: progress === undefined ? null : progress, duration: p.duration, bytes: bag(x, "Bytes Transferred"),
    tasks: (x.tasksList || []).map(t => [t.taskId, t.status, t.progressPercentage === undefined ? "" : t.progressPercentage + "%"]), target: "",
    waiting: (x.propertyBag || {}).Waiting || "",
    error: (p.errorDetails || []).map(e => e.errorString || e.errorTitle || "").join("; "),
    fix: (p.errorDetails || []).flatMap(e => e.recommendations || []).join(" ") };
}

// --- actions (through ARM, as the signed-in principal) ---

async function act(what, fn) {
  flash = what + "…"; flashBad = false; renderFlash();
  try { flash = what + ": " + (await fn()); } catch (e) { flash = what + " failed: " + e.message; flashBad = true; }
  renderFlash();
  refresh();
}

async function backupNow(it) {
  if (it.kind === "dp") {
    const bi = await get(it.id + "?api-version=" + V.dp);
    const pol = await get(bi.properties.policyInfo.policyId + "?api-version=" + V.dp);
    const rule = (pol.properties.policyRules || []).find(r => r.objectType === "AzureBackupRule");
    await arm(it.id + "/backup?api-version=" + V.dp, "POST", { backupRuleOptions: { ruleName: rule.name, triggerOption: { retentionTagOverride: "Default" } } });
  } else {
    await arm(it.id + "/backup?api-version=" + V.rs, "POST", { properties: { objectType: "IaasVMBackupRequest" } });
  }
  tab = "jobs"; selectTab();
  return "started";
}

async function stopResume(it) {
  if (it.kind === "dp") {
    await arm(it.id + (it.stopped ? "/resumeProtection" : "/stopProtection") + "?api-version=" + V.dp, "POST", {});
  } else {
    const props = it.stopped ? { protectedItemType: "Microsoft.Compute/virtualMachines", sourceResourceId: it.datasourceId, policyId: it.policyId || "" }
      : { protectedItemType: "Microsoft.Compute/virtualMachines", sourceResourceId: it.datasourceId, policyId: "", protectionState: "ProtectionStopped" };
    if (it.stopped && !props.policyId) throw new Error("the item has no policy to resume with");
    await arm(it.id + "?api-version=" + V.rs, "PUT", { properties: props });
  }
  return it.stopped ? "protection resumed" : "protection stopped (data kept)";
}

async function restore(it, pt, disk, rg) {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$/.test(disk)) throw new Error("the disk name must be 1-80 letters, digits, '_', '.' or '-'");
  if (!rg) throw new Error("name the target resource group");
  const target = "/subscriptions/" + cfg.subscriptionId + "/resourceGroups/" + rg + "/providers/Microsoft.Compute/disks/" + disk;
  const ds = { objectType: "Datasource", datasourceType: "Microsoft.Compute/disks", resourceID: target, resourceLocation: it.location, resourceName: disk, resourceType: "Microsoft.Compute/disks", resourceUri: target };
  await arm(it.id + "/restore?api-version=" + V.dp, "POST", { objectType: "AzureBackupRecoveryPointBasedRestoreRequest", recoveryPointId: pt.name, sourceDataStoreType: "OperationalStore",
    sourceResourceId: it.datasourceId, restoreTargetInfo: { objectType: "RestoreTargetInfo", recoveryOption: "FailIfExists", restoreLocation: it.location, datasourceInfo: ds } });
  tab = "jobs"; selectTab();
  return "restore to " + disk + " started";
}

// restoreDisks restores a VM's recovery point as disks in the resource
// group rg, the VM's configuration written into the staging storage
// account sa (a name in rg, or an id): Azure's RestoreDisks.
async function restoreDisks(it, pt, sa, rg) {
  if (!rg) throw new Error("name the target resource group");
  if (!sa) throw new Error("name the staging storage account");
  const group = "/subscriptions/" + cfg.subscriptionId + "/resourceGroups/" + rg;
  const account = sa.startsWith("/") ? sa : group + "/providers/Microsoft.Storage/storageAccounts/" + sa;
  await arm(pt.id + "/restore?api-version=" + V.rs, "POST", { properties: { objectType: "IaasVMRestoreRequest", recoveryPointId: pt.name, recoveryType: "RestoreDisks",
    sourceResourceId: it.datasourceId, storageAccountId: account, targetResourceGroupId: group, region: it.vault.location, createNewCloudService: false, originalStorageAccountOption: false,
    encryptionDetails: { encryptionEnabled: false } } });
  tab = "jobs"; selectTab();
  return "restore of the disks into " + rg + " started";
}

// --- views ---

function progressBar(p) {
  if (p === undefined || p === null) return "";
  return el("span", { class: "prog" }, el("span", { class: "bar" }, el("i", { width: Math.max(0, Math.min(100, p)) + "%" })), el("span", { class: "pct" }, Math.round(p) + "%"));
}

function renderFlash() { const f = document.getElementById("flash"); if (f) { f.textContent = flash; f.className = flashBad ? "bad" : ""; } }

function render(d) {
  for (const k of Object.keys(charts)) { charts[k].destroy(); delete charts[k]; }
  const view = document.getElementById("view");
  view.replaceChildren();
  if (tab === "overview") overview(view, d);
  else if (tab === "items") itemsView(view, d);
  else if (tab === "jobs") jobsView(view, d);
  else if (tab === "compute") computeView(view, d);
}

function overview(view, d) {
  const running = d.jobs.filter(j => /progress/i.test(j.status || "")).length;
  const failed = d.jobs.filter(j => /fail/i.test(j.status || "")).length;
  const u = (d.usage || {}).properties || {};
  view.append(el("div", { class: "cards" },
    [["Backup vaults", d.dpVaults.length], ["Recovery Services vaults", d.rsVaults.length], ["Protected items", d.items.length], ["Recovery points", d.items.reduce((n, i) => n + i.points.length, 0)],
      ["Jobs running", running], ["Jobs failed (" + windowName(d.days) + ")", failed], ["Storage used", bytes(u.storedBytes)], ["Dedup ratio", u.dedupRatio ? u.dedupRatio.toFixed(2) + "×" : "–"]]
      .map(([k, v]) => /^Jobs (failed|running)/.test(k)
        // The failed and running jobs' cards open the Jobs view on them.
        ? el("button", { class: "card link", id: /failed/.test(k) ? "card-failed" : "card-running", onclick: () => { jobStatus = /failed/.test(k) ? "Failed" : "InProgress"; tab = "jobs"; selectTab(); render(d); } }, el("b", {}, v), k)
        : el("div", { class: "card" }, el("b", {}, v), k))));
  const row = el("div", { class: "charts" });
  const jobBox = el("div", { class: "chart", id: "jobs-chart" }, el("h3", {}, "Jobs by status (" + windowName(d.days) + ")"));
  const stBox = el("div", { class: "chart", id: "storage-chart" }, el("h3", {}, "Storage: logical size against stored (dedup " + (u.dedupRatio ? u.dedupRatio.toFixed(2) + "×" : "–") + ")"));
  row.append(jobBox, stBox);
  view.append(row);
  jobsChart(jobBox, d.jobs, d.now, d.days);
  storageChart(stBox, u);
  view.append(el("h2", {}, "Recent jobs"), jobTable(d.jobs.slice(0, 10), d.days));
  cutNote(view, d);
}

function windowName(days) { return (WINDOWS.find(w => w[0] === days) || [days, days + " days"])[1]; }

// cutNote says which vaults had more jobs in the window than the page shows.
function cutNote(view, d) {
  if (!d.cuts.length) return;
  view.append(el("p", { class: "note cut", id: "jobs-cut" }, "Showing the newest " + JOB_CAP + " jobs of the last " + windowName(d.days) + " of " +
    d.cuts.map(c => c.kind + " " + c.vault).join(", ") + ", which had more: narrow the window to see the rest."));
}

// The y axes' labels are measured and the axis made as wide as the widest
// (with uPlot's ticks and gap): a fixed width clipped "1000 MiB" or "1500".
const AXIS_FONT = "12px system-ui, sans-serif";
let measurer = null;
function axisSize(self, values) {
  if (!values) return 40;
  measurer = measurer || document.createElement("canvas").getContext("2d");
  measurer.font = AXIS_FONT;
  return Math.ceil(Math.max(0, ...values.map(v => measurer.measureText(String(v)).width))) + 22;
}
const yAxis = extra => Object.assign({ font: AXIS_FONT, size: axisSize }, extra);

const statusColors = { Completed: "#1a7f37", Failed: "#cf222e", InProgress: "#bf8700", Cancelled: "#6e7781" };

// The bars span the jobs' window (days) back from now, or less when its
// jobs started later: one bar a week beyond 60 days, a day beyond 2 days,
// an hour beyond 6 hours, else 10 minutes (at least 12 bars), so that every
// job of the window has its bar and no bar lies before the window (twelve
// bars of any step left out the window's older jobs, a day's 13 to 24
// hours or a month's 13 to 30 days, and drew days before a week's window).
function jobsChart(box, jobs, now, days) {
  if (typeof uPlot === "undefined") { box.append(el("p", {}, "Charts unavailable.")); return; }
  const times = jobs.map(j => Date.parse(j.start)).filter(t => !isNaN(t));
  let span = times.length ? now - Math.min(...times) : 0;
  if (days) span = Math.min(span, days * 86400000);
  const step = span > 60 * 86400000 ? 7 * 86400000 : span > 2 * 86400000 ? 86400000 : span > 6 * 3600000 ? 3600000 : 600000;
  const end = Math.floor(now / step) * step, first = Math.floor((now - span) / step) * step, xs = [];
  const n = Math.max(step === 600000 ? 12 : 1, Math.round((end - first) / step) + 1);
  for (let i = n - 1; i >= 0; i--) xs.push((end - i * step) / 1000);
  const statuses = Object.keys(statusColors);
  const counts = statuses.map(() => xs.map(() => 0));
  let placed = 0;
  for (const j of jobs) {
    const t = Date.parse(j.start); if (isNaN(t)) continue;
    const b = xs.indexOf(Math.floor(t / step) * step / 1000); if (b < 0) continue;
    let s = statuses.indexOf(j.status); if (s < 0) s = statuses.indexOf(/fail/i.test(j.status) ? "Failed" : "Cancelled");
    counts[s][b]++;
    placed++;
  }
  box.dataset.placed = String(placed); // the jobs the bars count
  box.dataset.from = new Date(xs[0] * 1000).toISOString(); // where the first bar starts
  // stack: each series shows its count on top of the ones before it
  const stacked = counts.map((c, i) => c.map((_, b) => counts.slice(0, i + 1).reduce((a, s) => a + s[b], 0)));
  const bars = uPlot.paths.bars({ size: [0.7, 40] });
  const series = [{}].concat(statuses.map((s, i) => ({ label: s, fill: statusColors[s], stroke: statusColors[s], paths: bars, points: { show: false },
    value: (u, v, si, idx) => idx == null ? "" : String(counts[i][idx]) })));
  const opts = { width: 520, height: 220, series: series.slice(0, 1).concat(series.slice(1).reverse()),
    scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(1, max)] } },
    axes: [{ font: AXIS_FONT }, yAxis({ incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000], values: (p, splits) => splits.map(v => String(v)) })], cursor: { show: true }, legend: { show: true } };
  charts.jobs = new uPlot(opts, [xs].concat(stacked.slice().reverse()), box);
}

function storageChart(box, u) {
  if (typeof uPlot === "undefined") { box.append(el("p", {}, "Charts unavailable.")); return; }
  // The unit is the largest the bigger figure has one of (8 KiB stored
  // against 4 MiB logical reads 0.01 MiB, not 0 MiB).
  const top = Math.max(u.logicalBytes || 0, u.storedBytes || 0);
  const units = [["B", 1], ["KiB", 1024], ["MiB", 1048576], ["GiB", 1073741824], ["TiB", 1099511627776]];
  const [unit, div] = units.filter(x => top >= x[1]).pop() || units[0];
  const scaled = b => (b || 0) / div;
  const labels = ["Logical", "Stored"];
  const bars = uPlot.paths.bars({ size: [0.5, 80] });
  const opts = { width: 360, height: 220, scales: { x: { time: false, range: [-0.5, 1.5] }, y: { range: (p, min, max) => [0, Math.max(1, max * 1.1)] } },
    axes: [{ font: AXIS_FONT, values: (p, splits) => splits.map(v => labels[v] || ""), splits: () => [0, 1] }, yAxis({ values: (p, splits) => splits.map(v => +v.toFixed(2) + " " + unit) })],
    series: [{}, { label: unit, fill: "#2f81f7", stroke: "#0b3d63", paths: bars, points: { show: false } }], legend: { show: false }, cursor: { show: false } };
  charts.storage = new uPlot(opts, [[0, 1], [scaled(u.logicalBytes), scaled(u.storedBytes)]], box);
  box.append(el("p", { class: "note", id: "storage-figures" }, bytes(u.logicalBytes) + " logical in " + (u.snapshots || 0) + " recovery snapshots, " + bytes(u.storedBytes) + " stored"));
}

function itemsView(view, d) {
  view.append(el("h2", {}, "Backup instances and protected items"));
  const noItems = (d.dpVaults.length + d.rsVaults.length ? "No backup instances or protected items in the " + (d.dpVaults.length + d.rsVaults.length) + " vaults" : "No vaults") +
    " this principal can read. Protect a disk in a Backup vault (az dataprotection backup-instance create) or a VM in a Recovery Services vault (az backup protection enable-for-vm); " +
    "another principal sees only what its roles let it read.";
  view.append(table(["Item", "Vault", "Kind", "Datasource", "Policy", "Protection", "Health", "Last backup", "Next backup", "Points", "Actions"], d.items.map(it => [
    it.name, it.vault.name, it.kind === "dp" ? "Backup vault" : "Recovery Services", it.datasource, it.policy, stateCell(it.state), stateCell(it.health), when(it.last), it.next ? when(new Date(it.next).toISOString()) : "",
    String(it.points.length) + (it.points.some(p => p.damaged) ? " (" + it.points.filter(p => p.damaged).length + " damaged)" : ""),
    el("span", { class: "actions" },
      el("button", { id: "backup-" + it.name, onclick: () => act("Backup " + it.name, () => backupNow(it)), ...(it.stopped ? { disabled: "", title: "Protection is stopped: resume it first" } : denied(it, "backup")) }, "Backup now"),
      el("button", { id: "stop-" + it.name, onclick: () => (it.stopped || confirm("Stop protection of " + it.name + " in " + it.vault.name + "? Its scheduled backups end; its recovery points are kept.")) &&
        act((it.stopped ? "Resume " : "Stop ") + it.name, () => stopResume(it)), ...denied(it, it.stopped ? "resume" : "stop") }, it.stopped ? "Resume protection" : "Stop protection"),
      el("button", { id: "points-" + it.name, onclick: () => { selected = it.id; pointsStale = true; render(data); refresh(); } }, "Recovery points")),
  ]), i => ({ "data-item": d.items[i].name, "data-next": d.items[i].next ? new Date(d.items[i].next).toISOString() : "" }), noItems));
  if (d.items.some(it => Object.values(it.can || {}).some(Boolean))) {
    view.append(el("p", { class: "note", id: "denied-note" }, "Some actions are disabled: your roles at their vaults do not allow them (a disabled button names the action it needs)."));
  }
  const it = d.items.find(x => x.id === selected);
  if (it) pointsPanel(view, it, d.now);
}

function pointsPanel(view, it, now) {
  const box = el("section", { class: "panel", id: "points-panel" }, el("h2", {}, "Recovery points of " + it.name + " (" + it.vault.name + ")"));
  // Timeline: points placed by time between the oldest point and now.
  const ts = it.points.map(p => Date.parse(p.time)).filter(t => !isNaN(t));
  const from = ts.length ? Math.min(...ts) : now - 86400000, span = Math.max(60000, now - from);
  const lo = from - span * 0.05, width = now + span * 0.05 - lo;
  const line = el("div", { class: "timeline", id: "timeline" });
  for (const p of it.points) {
    const t = Date.parse(p.time); if (isNaN(t)) continue;
    line.append(el("i", { class: "dot" + (p.damaged ? " damaged" : ""), title: when(p.time) + " " + (p.tag || p.type || "") + (p.damaged ? " (damaged)" : ""), left: ((t - lo) / width * 100).toFixed(2) + "%" }));
  }
  line.append(el("span", { class: "tl-from" }, when(new Date(lo).toISOString())), el("span", { class: "tl-to" }, "now"));
  box.append(line);
  // A damaged point (a verify found part of its data damaged) says so and
  // why, and offers no restore: the server refuses it (restore another).
  // A VM's point restores its disks from a tier that holds it (snapshot or
  // vault); an archived one needs a rehydration the page does not ask for.
  const rs = it.kind === "rs";
  const restoreCell = p => {
    if (p.damaged) return el("span", { class: "bad note" }, "Not restorable: damaged");
    if (rs && !/snapshot|vault/.test(p.tiers || "")) return el("span", { class: "note" }, "Not restorable here: " + (p.tiers ? "rehydrate it first (az backup restore restore-disks --rehydration-priority)" : "no tier holds it"));
    return el("button", { class: "restore-btn", onclick: () => restoreForm(box, it, p), ...denied(it, "restore") }, rs ? "Restore disks" : "Restore to new disk");
  };
  box.append(table(["Time", "Type", "Retention tag", "Expires", "State"].concat(rs ? ["Tiers"] : [], ["Name", ""]), it.points.map(p => [when(p.time), p.type || "", p.tag || "", when(p.expiry),
    p.damaged ? el("span", { class: "bad", title: p.damaged }, "Damaged: " + p.damaged) : stateCell("Completed")].concat(rs ? [p.tiers || ""] : [], [p.name, restoreCell(p)])),
  i => ({ class: "point", "data-point": it.points[i].name, "data-state": it.points[i].damaged ? "Damaged" : "Completed" })));
  if (it.points.some(p => p.damaged)) box.append(el("p", { class: "note", id: "damaged-note" }, "A damaged recovery point cannot be restored: restore another point of this item. The item's next backup stores the damaged data again from the disk."));
  if (rs && it.points.length) box.append(el("p", { class: "note" }, "Restore disks creates the VM's disks in the target resource group and writes the VM's configuration into the staging storage account (az backup restore restore-disks)."));
  view.append(box);
}

// denied is the attributes of an action's button the signed-in principal
// may not use at the item's vault: disabled, saying which action it lacks.
function denied(it, what) {
  const a = (it.can || {})[what];
  return a ? { disabled: "", "data-denied": a, title: "Your roles at vault " + it.vault.name + " do not allow " + a } : {};
}

function restoreForm(box, it, p) {
  const old = document.getElementById("restore-form"); if (old) old.remove();
  const rs = it.kind === "rs";
  const first = rs ? el("input", { id: "restore-sa", placeholder: "storage account (name in the group, or id)", required: "" }) : el("input", { id: "restore-disk", placeholder: "new disk name", required: "" });
  const rg = el("input", { id: "restore-rg", placeholder: "resource group", required: "" });
  const form = el("form", { id: "restore-form", class: "panel" }, el("h3", {}, "Restore " + when(p.time) + (rs ? ": the VM's disks" : " to a new disk")),
    el("label", {}, "Resource group ", rg), el("label", {}, rs ? "Staging storage account " : "Disk name ", first), el("button", { type: "submit", id: "restore-go" }, "Restore"));
  form.addEventListener("submit", ev => {
    ev.preventDefault();
    if (form.contains(document.activeElement)) document.activeElement.blur(); // the views may redraw again
    act("Restore " + it.name, () => (rs ? restoreDisks : restore)(it, p, first.value.trim(), rg.value.trim()));
  });
  box.append(form);
  (rs ? rg : first).focus();
}

function jobsView(view, d) {
  const shown = d.jobs.filter(j => statusIs(j, jobStatus)), name = (JOB_STATUSES.find(x => x[0] === jobStatus) || JOB_STATUSES[0])[1];
  view.append(el("h2", { id: "jobs-heading", "data-window": String(d.days), "data-status": jobStatus }, (jobStatus ? name + " jobs" : "Jobs") + " of the last " + windowName(d.days) +
    " (" + (jobStatus ? shown.length + " of " + d.jobs.length : d.jobs.length) + ")"));
  const pick = el("select", { id: "job-status" }, JOB_STATUSES.map(([v, n]) => el("option", { value: v, ...(v === jobStatus ? { selected: "" } : {}) }, n)));
  pick.addEventListener("change", () => { jobStatus = pick.value; jobsShown = JOBS_PAGE; pick.blur(); render(data); });
  view.append(el("label", { class: "note" }, "Show ", pick));
  cutNote(view, d);
  view.append(jobTable(shown.slice(0, jobsShown), d.days, jobStatus ? name.toLowerCase() + " jobs" : ""));
  if (shown.length > jobsShown) {
    const more = Math.min(JOBS_PAGE, shown.length - jobsShown);
    view.append(el("p", { class: "note", id: "jobs-paging" }, "Showing the newest " + jobsShown + " of " + shown.length + " jobs. ",
      el("button", { id: "jobs-more", onclick: () => { jobsShown += JOBS_PAGE; render(data); } }, "Show " + more + " more"), " ",
      el("button", { id: "jobs-all", onclick: () => { jobsShown = Infinity; render(data); } }, "Show all " + shown.length)));
  }
  const j = d.jobs.find(x => x.id === selectedJob);
  if (j) {
    view.append(el("section", { class: "panel", id: "job-panel" }, el("h2", {}, j.op + " of " + j.item + " (" + j.vault + ")"),
      table(["Field", "Value"], [["Status", stateCell(j.status)], ["Progress", progressBar(j.progress)], ["Started", when(j.start)], ["Ended", when(j.end)], ["Duration", duration(j.duration)],
        ["Bytes transferred", j.bytes === null || j.bytes === undefined ? "" : bytes(j.bytes)], ["Restored to", j.target]].concat(j.waiting ? [["Waiting", j.waiting]] : [], [["Error", j.error]],j.fix ? [["Recommended action", j.fix]] : [], [["Job", j.name]])),
      el("h3", {}, "Tasks"), table(["Task", "Status", "Progress"], j.tasks.map(t => [String(t[0]), stateCell(t[1]), String(t[2])]))));
  }
}

function jobTable(jobs, days, what) {
  return table(["Started", "Vault", "Kind", "Item", "Operation", "Status", "Progress", "Ended", "Error"],
    jobs.map(j => [when(j.start), j.vault, j.kind, j.item, j.op, stateCell(j.status), progressBar(j.progress), when(j.end), j.error || j.waiting || ""]),
    i => ({ class: "job" + (jobs[i].id === selectedJob ? " sel" : ""), "data-job": jobs[i].name, "data-vault": jobs[i].vault, "data-item": jobs[i].item, "data-status": jobs[i].status || "", "data-op": jobs[i].op,
      "data-kind": jobs[i].kind, onclick: () => { selectedJob = jobs[i].id; tab = "jobs"; selectTab(); render(data); } }),
    "No " + (what || "jobs") + " started in the last " + windowName(days) + ": choose a longer window above" + (what ? ", or all statuses." : "."));
}

function computeView(view, d) {
  view.append(el("h2", {}, "Disks"), table(["Name", "Resource group", "Size", "State", "Attached to"], d.disks.map(x => {
    const p = x.properties || {};
    return [x.name, x.id.split("/")[4], bytes(p.diskSizeBytes), stateCell(p.diskState), (x.managedBy || "").split("/").pop()];
  }), i => ({ "data-disk": d.disks[i].name })));
  view.append(el("h2", {}, "Virtual machines"), table(["Name", "Resource group", "Disks"], d.vms.map(x => {
    const sp = (x.properties || {}).storageProfile || {};
    const names = [sp.osDisk].concat(sp.dataDisks || []).filter(Boolean).map(k => ((k.managedDisk || {}).id || k.name || "").split("/").pop());
    return [x.name, x.id.split("/")[4], names.join(", ")];
  })));
  // Newest first, as jobs and recovery points are (the list comes in name
  // order, which for a backup's AzureBackup_{disk}_{hex} snapshots is none).
  const created = x => Date.parse((x.properties || {}).timeCreated) || 0;
  const snaps = d.snaps.slice().sort((a, b) => created(b) - created(a) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  view.append(el("h2", {}, "Snapshots"), table(["Name", "Resource group", "Source", "Incremental", "Created"], snaps.map(x => {
    const p = x.properties || {};
    return [x.name, x.id.split("/")[4], ((p.creationData || {}).sourceResourceId || "").split("/").pop(), String(!!p.incremental), when(p.timeCreated)];
  }), i => ({ class: "snapshot", "data-snapshot": snaps[i].name, "data-created": (snaps[i].properties || {}).timeCreated || "" })));
}

// --- refresh, sign-in ---

// A refresh asked for while one is loading (an action's, a tab's) runs
// again as soon as that one ends: the load in flight may have read the
// lists before the action, and would otherwise schedule the next look 5 s
// away, missing the job the action just started.
let busy = false, again = false;
async function refresh() {
  if (!token) return;
  if (busy) { again = true; return; }
  busy = true;
  again = false;
  const st = document.getElementById("status");
  const as = token;
  try {
    const d = await load();
    // Signed out (or in as another) meanwhile: what was read is not theirs.
    if (token !== as) throw new Error("signed in again");
    data = d;
    // Never redraw under a user filling the restore form or pressing its
    // button (a redraw between the press and the click would drop it).
    const focus = document.activeElement;
    if (!(focus && focus.closest && focus.closest("#restore-form, #job-status"))) render(data);
    const live = data.jobs.some(j => /progress/i.test(j.status || ""));
    const failed = data.errors.length ? " · " + data.errors.length + (data.errors.length === 1 ? " list" : " lists") + " could not be read: " + data.errors.join("; ") : "";
    // A server clock moved away from the browser's is named: the views
    // follow it, and the times shown would puzzle otherwise.
    const moved = Math.abs(skew) > 60000 ? " (server time " + new Date(data.now).toLocaleString() + ", " + skewName(skew) + ")" : "";
    // Every time shown is in this browser's zone, which is named (a
    // server's logs and az show UTC).
    const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "this browser's zone";
    st.textContent = "Updated " + new Date().toLocaleTimeString() + moved + " · times in " + zone + (live ? " · jobs running, refreshing every second" : " · refreshes every 5 s") + failed;
    st.className = failed ? "bad" : "";
    schedule(live ? 1000 : 5000);
  } catch (e) {
    if (token === as) { st.textContent = "Could not refresh: " + e.message; st.className = "bad"; schedule(5000); } else again = !!token;
  }
  busy = false;
  if (again) refresh();
}

// skewName names the server clock's distance from the browser's, rounded
// to the unit it ends with: days and hours from a day on (to the nearest
// hour: a week's advance read seconds later is "7 d", not "6 d 23 h"),
// hours and minutes below (to the nearest minute).
function skewName(ms) {
  const side = (ms > 0 ? "ahead of" : "behind") + " this browser";
  const mins = Math.round(Math.abs(ms) / 60000);
  if (mins < 1440) {
    const h = Math.floor(mins / 60), m = mins % 60;
    return (h ? h + " h " : "") + (m || !h ? m + " min " : "") + side;
  }
  const hours = Math.round(Math.abs(ms) / 3600000), d = Math.floor(hours / 24), h = hours % 24;
  return d + " d " + (h ? h + " h " : "") + side;
}

function schedule(ms) { clearTimeout(timer); timer = setTimeout(refresh, ms); }

async function signIn(clientId, secret) {
  const body = new URLSearchParams({ grant_type: "client_credentials", client_id: clientId, client_secret: secret, scope: location.origin + "/.default" });
  const r = await fetch("/" + cfg.tenantId + "/oauth2/v2.0/token", { method: "POST", body });
  const j = await r.json();
  if (!r.ok) throw new Error(j.error_description || j.error || r.statusText);
  return j.access_token;
}

function signOut(why) {
  token = null; sessionStorage.removeItem("safehold-token");
  clearTimeout(timer);
  // Nothing read as this principal is shown to, or decides the buttons of,
  // the next one.
  data = null; selected = null; selectedJob = null; flash = ""; flashBad = false;
  permsCache.clear(); pointsCache.clear(); lastJobs = new Map(); pointsStale = true;
  document.getElementById("view").replaceChildren(); renderFlash();
  document.getElementById("loginerr").textContent = typeof why === "string" ? why : "";
  show();
}

function selectTab() {
  for (const x of document.querySelectorAll("#tabs button")) x.classList.toggle("on", x.dataset.tab === tab);
}

// claims reads a token's claims (appid: the client id signed in); {} when
// it is not a JWT.
function claims(t) {
  try { return JSON.parse(atob(t.split(".")[1].replace(/-/g, "+").replace(/_/g, "/"))) || {}; } catch (e) { return {}; }
}

function show() {
  document.getElementById("login").hidden = !!token;
  document.getElementById("app").hidden = !token;
  document.getElementById("signout").hidden = !token;
  document.getElementById("who").textContent = token ? (claims(token).appid ? "signed in as " + claims(token).appid + " · " : "") + "subscription " + cfg.subscriptionId : "";
  if (token) refresh();
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
    b.addEventListener("click", () => { tab = b.dataset.tab; if (tab === "items") pointsStale = true; selectTab(); if (data) render(data); refresh(); });
  }
  const win = document.getElementById("window");
  for (const [days, name] of WINDOWS) win.append(el("option", { value: String(days), ...(days === windowDays ? { selected: "" } : {}) }, name));
  win.addEventListener("change", () => { windowDays = +win.value; jobsShown = JOBS_PAGE; localStorage.setItem("safehold-window", String(windowDays)); refresh(); });
  show();
}

main();
