// Azure VM backup through Microsoft.RecoveryServices beyond seed 002, with
// the official JavaScript SDK packages at their default api-versions: one
// major of @azure/arm-recoveryservicesbackup (SAFEHOLD_JS_RSB names the
// package, e.g. an npm alias of 9.0.0) and of the other packages
// (SAFEHOLD_JS_RS, SAFEHOLD_JS_COMPUTE, SAFEHOLD_JS_RESOURCES,
// SAFEHOLD_JS_AUTHZ, SAFEHOLD_JS_STORAGE; the plain package names by default). It walks resource
// groups, disks and snapshots with grant/revoke access, role assignments,
// the vault and its config resources, policies (CRUD), protection intent
// and feature validation, protection, backup now, a cancelled backup, jobs
// with $filter, export jobs, usage summaries, recovery points, restore
// validation, a restore, stopping protection and deleting the data. Run by
// clients/clients_test.go with SAFEHOLD_CONNECTION (connection.json) and
// NODE_EXTRA_CA_CERTS (Safehold's CA); prints "ok" steps, exits 1 on failure.
"use strict";
const crypto = require("node:crypto");
const { ServiceClient } = require("@azure/core-client");
const { createHttpHeaders, createPipelineRequest } = require("@azure/core-rest-pipeline");
const { endpoint, scope, sub, credential, clientOptions, step, fail, waitUntil, all, run, eq, rejects, poll, lro, opID, jobDone, quietTime } = require("./lib.cjs");
const pkg = (env, def) => require(process.env[env] || def);
const { ResourceManagementClient } = pkg("SAFEHOLD_JS_RESOURCES", "@azure/arm-resources");
const { ComputeManagementClient } = pkg("SAFEHOLD_JS_COMPUTE", "@azure/arm-compute");
const { AuthorizationManagementClient } = pkg("SAFEHOLD_JS_AUTHZ", "@azure/arm-authorization");
const { StorageManagementClient } = pkg("SAFEHOLD_JS_STORAGE", "@azure/arm-storage");
const { RecoveryServicesClient } = pkg("SAFEHOLD_JS_RS", "@azure/arm-recoveryservices");
const { RecoveryServicesBackupClient } = pkg("SAFEHOLD_JS_RSB", "@azure/arm-recoveryservicesbackup");

const cred = credential();
const raw = new ServiceClient({ credential: cred, credentialScopes: [scope], baseUri: endpoint });
async function send(method, url, body) {
  const r = await raw.sendRequest(createPipelineRequest({ url: url.startsWith("http") ? url : endpoint + url, method, headers: createHttpHeaders(body ? { "content-type": "application/json" } : {}), body: body ? JSON.stringify(body) : undefined }));
  return { status: r.status, body: r.bodyAsText ? JSON.parse(r.bodyAsText) : undefined, text: r.bodyAsText };
}

async function main() {
  const rgs = new ResourceManagementClient(cred, sub, clientOptions);
  for (const rg of ["jsRG", "jsVaultRG", "jsRestoreRG", "jsScratchRG"]) {
    const g = await rgs.resourceGroups.createOrUpdate(rg, { location: "westus", tags: { flow: "js" } });
    eq("group " + rg, g.properties.provisioningState, "Succeeded");
  }
  eq("group tags", (await rgs.resourceGroups.get("jsRG")).tags.flow, "js");
  const listed = (await all(rgs.resourceGroups.list())).map((g) => g.name);
  for (const rg of ["jsRG", "jsVaultRG", "jsRestoreRG", "jsScratchRG"]) if (!listed.includes(rg)) fail("groups listed " + listed);
  await lro(rgs.resourceGroups, "delete", "jsScratchRG");
  await rejects("deleted group", rgs.resourceGroups.get("jsScratchRG"), 404);
  step("resource groups (arm-resources " + (rgs.apiVersion || "default") + ")");

  const compute = new ComputeManagementClient(cred, sub, clientOptions);
  const disk = await lro(compute.disks, "createOrUpdate", "jsRG", "jsVM-os", { location: "westus", creationData: { createOption: "Empty" }, diskSizeGB: 1, osType: "Linux" });
  eq("disk state", disk.provisioningState, "Succeeded");
  eq("disk size", disk.diskSizeGB, 1);
  const tagged = await lro(compute.disks, "update", "jsRG", "jsVM-os", { tags: { tier: "os" } });
  eq("disk tag", tagged.tags.tier, "os");
  const snap = await lro(compute.snapshots, "createOrUpdate", "jsRG", "jsSnap", { location: "westus", creationData: { createOption: "Copy", sourceResourceId: disk.id } });
  eq("snapshot state", snap.provisioningState, "Succeeded");
  eq("snapshot size", snap.diskSizeGB, 1);
  eq("snapshot source", snap.creationData.sourceResourceId.toLowerCase(), disk.id.toLowerCase());
  const access = await lro(compute.snapshots, "grantAccess", "jsRG", "jsSnap", { access: "Read", durationInSeconds: 600 });
  if (!access.accessSAS || !access.accessSAS.startsWith("https://")) fail("grant access " + JSON.stringify(access));
  // The SAS reads the snapshot's bytes (1 GiB of zeros, here its first page).
  const head = await fetch(access.accessSAS, { headers: { "x-ms-range": "bytes=0-511" } });
  const page = Buffer.from(await head.arrayBuffer());
  if (head.status !== 206 || page.length !== 512 || page.some((b) => b !== 0)) fail("read through the SAS: " + head.status + " " + page.length);
  await lro(compute.snapshots, "revokeAccess", "jsRG", "jsSnap");
  const revoked = await fetch(access.accessSAS, { headers: { "x-ms-range": "bytes=0-511" } });
  eq("read after revokeAccess", revoked.status, 403);
  const snaps = await all(compute.snapshots.listByResourceGroup("jsRG"));
  eq("snapshots listed", snaps.length, 1);
  await lro(compute.snapshots, "delete", "jsRG", "jsSnap");
  await rejects("deleted snapshot", compute.snapshots.get("jsRG", "jsSnap"), 404);
  const vm = await lro(compute.virtualMachines, "createOrUpdate", "jsRG", "jsVM", {
    location: "westus", hardwareProfile: { vmSize: "Standard_D2s_v3" },
    storageProfile: { osDisk: { osType: "Linux", createOption: "Attach", managedDisk: { id: disk.id } } },
  });
  eq("vm state", vm.provisioningState, "Succeeded");
  step("disk, snapshot, grant/revoke access and VM (arm-compute)");

  const authz = new AuthorizationManagementClient(cred, sub, clientOptions);
  const spResp = await send("POST", "/providers/Safehold.Identity/servicePrincipals?api-version=2024-01-01", { displayName: "js-reader" });
  eq("create principal", spResp.status, 201);
  const roles = await all(authz.roleDefinitions.list("/subscriptions/" + sub, { filter: "roleName eq 'Backup Reader'" }));
  eq("Backup Reader found", roles.length, 1);
  const vaultScope = `/subscriptions/${sub}/resourceGroups/jsVaultRG`;
  const raName = crypto.randomUUID();
  const ra = await authz.roleAssignments.create(vaultScope, raName, { roleDefinitionId: roles[0].id, principalId: spResp.body.objectId, principalType: "ServicePrincipal" });
  eq("assignment principal", ra.principalId, spResp.body.objectId);
  eq("assignment read back", (await authz.roleAssignments.get(vaultScope, raName)).roleDefinitionId.toLowerCase(), roles[0].id.toLowerCase());
  const forScope = await all(authz.roleAssignments.listForScope(vaultScope));
  if (!forScope.some((a) => a.name === raName)) fail("assignment not listed for its scope");
  // The admin holds Owner on the subscription: its permissions at the group say so.
  const perms = await all(authz.permissions.listForResourceGroup("jsVaultRG"));
  if (!perms.some((p) => p.actions.includes("*"))) fail("admin permissions " + JSON.stringify(perms));
  eq("deny assignments", (await all(authz.denyAssignments.listForResourceGroup("jsVaultRG"))).length, 0);
  step("role assignments, permissions, deny assignments (arm-authorization)");

  const vaults = new RecoveryServicesClient(cred, sub, clientOptions);
  const V = ["jsVaultRG", "jsVault"];
  const vault = await lro(vaults.vaults, "createOrUpdate", ...V, { location: "westus", sku: { name: "Standard" }, properties: {} });
  eq("vault state", vault.properties.provisioningState, "Succeeded");
  eq("vault sku", vault.sku.name, "Standard");
  const patched = await lro(vaults.vaults, "update", ...V, { tags: { env: "js" } });
  eq("vault tag", patched.tags.env, "js");
  const inGroup = await all(vaults.vaults.listByResourceGroup("jsVaultRG"));
  eq("vaults in group", inGroup.length, 1);
  eq("vault name taken", (await vaults.recoveryServices.checkNameAvailability("jsVaultRG", "westus", { type: "Microsoft.RecoveryServices/Vaults", name: "jsVault" })).nameAvailable, false);
  // (Flattened in the models before arm-recoveryservices 7, under properties since.)
  const ext = { integrityKey: "js-key", algorithm: "None" };
  const newRS = !vaults.apiVersion;
  await vaults.vaultExtendedInfo.createOrUpdate(...V, newRS ? { properties: ext } : ext);
  const gotExt = await vaults.vaultExtendedInfo.get(...V);
  eq("extended info", (newRS ? gotExt.properties : gotExt).integrityKey, "js-key");
  const rsOps = await all(vaults.operations.list());
  if (!rsOps.some((o) => /vaults\/backupProtectionIntents\/read$/i.test(o.name))) fail("operations catalog lacks backupProtectionIntents/read");
  step("vault, name check, extended info, operations (arm-recoveryservices " + (vaults.apiVersion || "default") + ")");

  // SAFEHOLD_JS_RSB_API overrides the backup client's api-version (by hand: any published one).
  const bk = new RecoveryServicesBackupClient(cred, sub, process.env.SAFEHOLD_JS_RSB_API ? { ...clientOptions, apiVersion: process.env.SAFEHOLD_JS_RSB_API } : clientOptions);
  // The models are those of the package's default api-version.
  const models = new RecoveryServicesBackupClient(cred, sub, clientOptions).apiVersion;
  const R = ["jsVault", "jsVaultRG"];
  const vaultCfg = await bk.backupResourceVaultConfigs.get(...R);
  eq("vault config editable", vaultCfg.properties.isSoftDeleteFeatureStateEditable, true);
  // (softDeleteRetentionPeriodInDays is in the models since 2023.)
  const newer = models >= "2023-01-01";
  await bk.backupResourceVaultConfigs.update(...R, { properties: { enhancedSecurityState: "Disabled", softDeleteFeatureState: "Disabled", ...(newer ? { softDeleteRetentionPeriodInDays: 20 } : {}) } });
  const vaultCfg2 = (await bk.backupResourceVaultConfigs.get(...R)).properties;
  eq("vault config updated", vaultCfg2.enhancedSecurityState, "Disabled");
  if (newer) eq("soft delete retention", vaultCfg2.softDeleteRetentionPeriodInDays, 20);
  const stg = await bk.backupResourceStorageConfigsNonCRR.get(...R);
  eq("storage type", stg.properties.storageModelType, "GeoRedundant");
  await bk.backupResourceStorageConfigsNonCRR.patch(...R, { properties: { storageType: "LocallyRedundant" } });
  eq("storage type patched", (await bk.backupResourceStorageConfigsNonCRR.get(...R)).properties.storageModelType, "LocallyRedundant");
  const enc = await bk.backupResourceEncryptionConfigs.get(...R);
  eq("encryption", enc.properties.encryptionAtRestType, "MicrosoftManaged");
  const proxies = await all(bk.resourceGuardProxies.list(...R));
  eq("resource guard proxies", proxies.length, 0);
  step("vault config, storage config, encryption config (arm-recoveryservicesbackup " + bk.apiVersion + ")");

  // Policies: the default one, then a custom daily policy created, read,
  // changed and deleted.
  const policies = await all(bk.backupPolicies.list(...R, { filter: "backupManagementType eq 'AzureIaasVM'" }));
  if (!policies.some((p) => p.name === "DefaultPolicy")) fail("policies " + JSON.stringify(policies.map((p) => p.name)));
  const at = quietTime(); // runs away from the steps, which count one recovery point
  const body = (days) => ({ properties: {
    backupManagementType: "AzureIaasVM", timeZone: "UTC", instantRpRetentionRangeInDays: 2,
    schedulePolicy: { schedulePolicyType: "SimpleSchedulePolicy", scheduleRunFrequency: "Daily", scheduleRunTimes: [at] },
    retentionPolicy: { retentionPolicyType: "LongTermRetentionPolicy", dailySchedule: { retentionTimes: [at], retentionDuration: { count: days, durationType: "Days" } } },
  } });
  const created = await bk.protectionPolicies.createOrUpdate(...R, "jsDaily", body(30));
  eq("policy retention", created.properties.retentionPolicy.dailySchedule.retentionDuration.count, 30);
  eq("policy run time", created.properties.schedulePolicy.scheduleRunTimes[0].toISOString(), at.toISOString());
  const updated = await bk.protectionPolicies.createOrUpdate(...R, "jsDaily", body(45));
  eq("policy updated", (await bk.protectionPolicies.get(...R, "jsDaily")).properties.retentionPolicy.dailySchedule.retentionDuration.count, 45);
  eq("policy id", updated.id, created.id);
  await bk.protectionPolicies.createOrUpdate(...R, "jsSpare", body(7));
  await bk.protectionPolicies.beginDeleteAndWait(...R, "jsSpare", poll);
  await rejects("deleted policy", bk.protectionPolicies.get(...R, "jsSpare"), 404);
  step("policies CRUD");

  // Protection intent and feature validation, then discovery.
  const vaultId = vault.id;
  const pre = await bk.protectionIntentOperations.validate("westus", { resourceType: "VM", resourceId: vm.id, vaultId, properties: "" });
  eq("pre-validate status", pre.status, "Succeeded");
  const status = await bk.backupStatus.get("westus", { resourceType: "VM", resourceId: vm.id });
  eq("backup status before", status.protectionStatus, "NotProtected");
  const feat = await bk.featureSupport.validate("westus", { featureType: "AzureVMResourceBackup", vmSize: "Standard_D2s_v3", vmSku: "Premium" });
  eq("feature support", feat.supportStatus, "Supported");
  let refreshOp;
  await bk.protectionContainers.refresh(...R, "Azure", { filter: "backupManagementType eq 'AzureIaasVM'", onResponse: (r) => { refreshOp = r.headers.get("location"); } });
  if (!refreshOp) fail("refresh gave no Location");
  await waitUntil("refresh", async () => {
    let s;
    await bk.protectionContainerRefreshOperationResults.get(...R, "Azure", opID(refreshOp), { onResponse: (r) => { s = r.status; } });
    return s === 204;
  });
  const protectable = await all(bk.backupProtectableItems.list(...R, { filter: "backupManagementType eq 'AzureIaasVM'" }));
  const item = protectable.find((p) => p.properties.virtualMachineId && p.properties.virtualMachineId.toLowerCase() === vm.id.toLowerCase());
  if (!item) fail("VM not protectable: " + JSON.stringify(protectable));
  eq("protectable status", item.properties.protectionState, "NotProtected");
  step("protection intent, backup status, feature support, refresh and protectable items");

  // Protect through a protection intent (as the portal's VM creation does).
  const container = "iaasvmcontainer;" + item.name;
  const I = [...R, "Azure", container, "vm;" + item.name];
  const intent = await bk.protectionIntentOperations.createOrUpdate(...R, "Azure", "vm;" + item.name, { properties: { protectionIntentItemType: "AzureResourceItem", sourceResourceId: vm.id, policyId: created.id } });
  eq("intent state", intent.properties.protectionState, "Protected");
  await waitUntil("protection", async () => {
    try { const it = await bk.protectedItems.get(...I); return it.properties.protectionState === "IRPending" || it.properties.protectionState === "Protected"; } catch (e) { if (e.statusCode === 404) return false; throw e; }
  });
  const items = await all(bk.backupProtectedItems.list(...R, { filter: "backupManagementType eq 'AzureIaasVM' and itemType eq 'VM'" }));
  eq("protected items", items.length, 1);
  eq("item policy", items[0].properties.policyName, "jsDaily");
  const containers = await all(bk.backupProtectionContainers.list(...R, { filter: "backupManagementType eq 'AzureIaasVM'" }));
  eq("containers", containers.length, 1);
  eq("container name", containers[0].name.toLowerCase(), container.toLowerCase());
  eq("container read", (await bk.protectionContainers.get(...R, "Azure", container)).properties.registrationStatus, "Registered");
  eq("backup status after", (await bk.backupStatus.get("westus", { resourceType: "VM", resourceId: vm.id })).protectionStatus, "Protected");
  await rejects("delete a policy in use", bk.protectionPolicies.beginDeleteAndWait(...R, "jsDaily", poll), 400);
  const intents = await all(bk.backupProtectionIntent.list(...R, { filter: "backupManagementType eq 'AzureIaasVM'" }));
  eq("intents", intents.length, 1);
  eq("intent listed", intents[0].id, intent.id);
  await bk.protectionIntentOperations.delete(...R, "Azure", "vm;" + item.name);
  eq("intents after the delete", (await all(bk.backupProtectionIntent.list(...R))).length, 0);
  eq("still protected", (await bk.protectedItems.get(...I)).properties.policyName, "jsDaily");
  step("protect VM (protection intent), protected items, containers, intents");

  // A backup held by a fault rule is cancelled; the next one completes.
  const faultURL = "/providers/Safehold.Admin/faultRules?api-version=2024-01-01";
  // (No count: a cancel that reaches the job before its capture does would
  // leave a counted rule for the next backup; the rule goes after the cancel.)
  eq("fault rule", (await send("POST", faultURL, { name: "js-hold", operation: "backup", latency: "60s" })).status, 201);
  const until = new Date(Date.now() + 30 * 24 * 3600 * 1000);
  const trigger = async () => {
    let loc;
    await bk.backups.trigger(...I, { properties: { objectType: "IaasVMBackupRequest", recoveryPointExpiryTimeInUTC: until } }, { onResponse: (r) => { loc = r.headers.get("azure-asyncoperation") || r.headers.get("location"); } });
    if (!loc) fail("backup gave no Azure-AsyncOperation");
    let st;
    await waitUntil("backup operation", async () => { st = await bk.backupOperationStatuses.get(...R, opID(loc)); return st.status !== "InProgress"; });
    eq("backup operation", st.status, "Succeeded");
    return st.properties.jobId;
  };
  const heldJob = await trigger();
  eq("held job", (await bk.jobDetails.get(...R, heldJob)).properties.status, "InProgress");
  let cancelLoc;
  await bk.jobCancellations.trigger(...R, heldJob, { onResponse: (r) => { cancelLoc = r.headers.get("location"); } });
  if (!cancelLoc) fail("cancel gave no Location");
  await waitUntil("cancel", async () => {
    let s;
    await bk.jobOperationResults.get(...R, heldJob, opID(cancelLoc), { onResponse: (r) => { s = r.status; } });
    return s === 204 || s === 200;
  });
  eq("cancelled job", (await bk.jobDetails.get(...R, heldJob)).properties.status, "Cancelled");
  eq("fault rule deleted", (await send("DELETE", "/providers/Safehold.Admin/faultRules/js-hold?api-version=2024-01-01")).status, 200);
  const jobId = await trigger();
  await waitUntil("backup job", async () => {
    const j = await bk.jobDetails.get(...R, jobId);
    if (j.properties.status === "Failed") fail("backup job failed " + JSON.stringify(j));
    return j.properties.status === "Completed";
  });
  const backups = await all(bk.backupJobs.list(...R, { filter: "operation eq 'Backup'" }));
  eq("backup jobs", backups.length, 2);
  const completed = await all(bk.backupJobs.list(...R, { filter: "operation eq 'Backup' and status eq 'Completed'" }));
  eq("completed backup jobs", completed.length, 1);
  eq("completed job", completed[0].name, jobId);
  const cancelled = await all(bk.backupJobs.list(...R, { filter: `status eq 'Cancelled' and startTime eq '${new Date(Date.now() - 3600e3).toISOString().replace("T", " ").slice(0, 19)}' and endTime eq '${new Date(Date.now() + 3600e3).toISOString().replace("T", " ").slice(0, 19)}'` }));
  eq("cancelled jobs in the window", cancelled.length, 1);
  step("backup now, cancel, jobs with $filter");

  const points = await all(bk.recoveryPoints.list(...I));
  eq("recovery points", points.length, 1);
  const rp = points[0];
  eq("recovery point read", (await bk.recoveryPoints.get(...I, rp.name)).name, rp.name);
  const usage = {};
  for (const u of await all(bk.backupUsageSummaries.list(...R, { filter: "backupManagementType eq 'AzureIaasVM'" }))) usage[u.name.value] = u.currentValue;
  if (usage.ProtectedItemCount !== 1 || usage.RecoveryPointCount !== 1) fail("usage summaries " + JSON.stringify(usage));
  const vaultUsage = (await all(vaults.usages.listByVaults(...V))).find((u) => u.name.value === "ProtectedItemCount");
  eq("vault usage", vaultUsage && vaultUsage.currentValue, 1);
  if (!/^\d{6,}$/.test((await bk.securityPINs.get(...R)).securityPIN)) fail("security PIN");
  let exportLoc;
  await bk.jobs.export(...R, { filter: "operation eq 'Backup'", onResponse: (r) => { exportLoc = r.headers.get("location"); } });
  if (!exportLoc) fail("export gave no Location");
  let exported;
  await waitUntil("export", async () => {
    let s;
    exported = await bk.exportJobsOperationResults.get(...R, opID(exportLoc), { onResponse: (r) => { s = r.status; } });
    return s === 200;
  });
  eq("export result", exported.operation.objectType, "ExportJobsOperationResultInfo");
  // Safehold serves the list under the vault, read with the caller's token.
  const blob = (await send("GET", exported.operation.blobUrl)).body;
  if (!Array.isArray(blob.value)) fail("exported " + JSON.stringify(blob).slice(0, 300));
  eq("exported jobs", blob.value.length, 2);
  step("recovery points, usage summaries, vault usages, security PIN, export jobs");

  // Restore validation, then the restore it validated.
  const storage = new StorageManagementClient(cred, sub, clientOptions);
  eq("account name free", (await storage.storageAccounts.checkNameAvailability({ name: "jsstaging", type: "Microsoft.Storage/storageAccounts" })).nameAvailable, true);
  const sa = await lro(storage.storageAccounts, "create", "jsVaultRG", "jsstaging", { location: "westus", kind: "StorageV2", sku: { name: "Standard_LRS" } });
  eq("storage account", sa.provisioningState, "Succeeded");
  eq("account keys", (await storage.storageAccounts.listKeys("jsVaultRG", "jsstaging")).keys.length, 2);
  const saID = sa.id;
  const restoreRequest = {
    objectType: "IaasVMRestoreRequest", recoveryPointId: rp.name, recoveryType: "RestoreDisks", sourceResourceId: vm.id,
    storageAccountId: saID, targetResourceGroupId: `/subscriptions/${sub}/resourceGroups/jsRestoreRG`, region: "westus", originalStorageAccountOption: false, createNewCloudService: false,
  };
  // Since 2023-02-01 the request is a resource ({id, properties}), before it the properties alone.
  const vreq = (rr) => {
    const props = { objectType: "ValidateIaasVMRestoreOperationRequest", restoreRequest: rr };
    return models < "2023-02-01" ? props : { id: rp.id, properties: props };
  };
  const validation = await bk.operation.validate(...R, vreq(restoreRequest));
  eq("validation of the restore", JSON.stringify(validation.validateOperationResponse.validationResults), "[]");
  const bad = await bk.operation.validate(...R, vreq({ ...restoreRequest, recoveryPointId: "123456" }));
  const errs = bad.validateOperationResponse.validationResults;
  if (!errs.length || !errs[0].code || !errs[0].message) fail("validate of a missing point " + JSON.stringify(bad));
  await bk.validateOperation.beginTriggerAndWait(...R, vreq(restoreRequest), poll);
  // The triggered validation is an operation; its result carries the same answer.
  let validateLoc;
  await bk.validateOperation.beginTriggerAndWait(...R, vreq({ ...restoreRequest, recoveryPointId: "123456" }), { ...poll, onResponse: (r) => { validateLoc = validateLoc || r.headers.get("location"); } });
  if (!validateLoc) fail("validate trigger gave no Location");
  const vres = await bk.validateOperationResults.get(...R, opID(validateLoc));
  eq("triggered validation error", vres.validateOperationResponse.validationResults[0].code, errs[0].code);
  await bk.restores.beginTriggerAndWait(...I, rp.name, { properties: restoreRequest }, poll);
  await jobDone(bk, R, "Restore");
  const restored = await all(compute.disks.listByResourceGroup("jsRestoreRG"));
  eq("restored disks", restored.length, 1);
  eq("restored size", restored[0].diskSizeGB, 1);
  step("restore validation and restore disks");

  // Stop protection keeping the data, then delete it; then the vault.
  await bk.protectedItems.createOrUpdate(...I, { properties: { protectedItemType: "Microsoft.Compute/virtualMachines", sourceResourceId: vm.id, policyId: "", protectionState: "ProtectionStopped" } });
  await waitUntil("stop protection", async () => (await bk.protectedItems.get(...I)).properties.protectionState === "ProtectionStopped");
  eq("points kept", (await all(bk.recoveryPoints.list(...I))).length, 1);
  await bk.protectedItems.delete(...I);
  await waitUntil("delete", async () => {
    try { await bk.protectedItems.get(...I); return false; } catch (e) { if (e.statusCode === 404) return true; throw e; }
  });
  await bk.protectionPolicies.beginDeleteAndWait(...R, "jsDaily", poll);
  await (authz.roleAssignments.delete || authz.roleAssignments.deleteMethod).call(authz.roleAssignments, vaultScope, raName);
  await rejects("deleted assignment", authz.roleAssignments.get(vaultScope, raName), 404);
  await lro(vaults.vaults, "delete", ...V);
  await rejects("deleted vault", vaults.vaults.get(...V), 404);
  step("stop protection, delete data, policy, assignment and vault");
}

run(main, "recoveryservices done");
