// Seed 002 (Azure VM backup through Microsoft.RecoveryServices) with the
// official JavaScript SDK packages at their default api-versions, plus the
// Compute and RBAC steps it needs: the admin creates the VM and a backup
// operator principal, grants it roles, and that principal runs the backup.
// Run by clients/clients_test.go with SAFEHOLD_CONNECTION (connection.json) and
// NODE_EXTRA_CA_CERTS (Safehold's CA); prints "ok" steps, exits 1 on failure.
"use strict";
const crypto = require("node:crypto");
const { ServiceClient } = require("@azure/core-client");
const { createHttpHeaders, createPipelineRequest } = require("@azure/core-rest-pipeline");
const { ResourceManagementClient } = require("@azure/arm-resources");
const { ComputeManagementClient } = require("@azure/arm-compute");
const { AuthorizationManagementClient } = require("@azure/arm-authorization");
const { RecoveryServicesClient } = require("@azure/arm-recoveryservices");
const { RecoveryServicesBackupClient } = require("@azure/arm-recoveryservicesbackup");
const { endpoint, scope, sub, credential, clientOptions, step, fail, waitUntil, all, run, quietTime } = require("./lib.cjs");

async function main() {
  const admin = credential();
  const rgs = new ResourceManagementClient(admin, sub, clientOptions);
  for (const rg of ["testRG", "testVaultRG", "restoreRG"]) await rgs.resourceGroups.createOrUpdate(rg, { location: "westus" });
  step("resource groups");

  const compute = new ComputeManagementClient(admin, sub, clientOptions);
  const disk = await compute.disks.createOrUpdate("testRG", "testVM-os", { location: "westus", creationData: { createOption: "Empty" }, diskSizeGB: 1, osType: "Linux" });
  if (disk.provisioningState !== "Succeeded") fail("disk " + JSON.stringify(disk));
  const vm = await compute.virtualMachines.createOrUpdate("testRG", "testVM", {
    location: "westus", hardwareProfile: { vmSize: "Standard_D2s_v3" },
    storageProfile: { osDisk: { osType: "Linux", createOption: "Attach", managedDisk: { id: disk.id } } },
  });
  if (!vm.id || vm.provisioningState !== "Succeeded") fail("vm " + JSON.stringify(vm));
  step("disk and VM (arm-compute)");

  // A principal for the backup, through Safehold's admin API (core-client).
  const raw = new ServiceClient({ credential: admin, credentialScopes: [scope], baseUri: endpoint });
  const spResp = await raw.sendRequest(createPipelineRequest({
    url: endpoint + "/providers/Safehold.Identity/servicePrincipals?api-version=2024-01-01", method: "POST",
    headers: createHttpHeaders({ "content-type": "application/json" }), body: JSON.stringify({ displayName: "js-backup-operator" }),
  }));
  if (spResp.status !== 201) fail("create principal " + spResp.status + " " + spResp.bodyAsText);
  const sp = JSON.parse(spResp.bodyAsText);

  const authz = new AuthorizationManagementClient(admin, sub, clientOptions);
  const roles = await all(authz.roleDefinitions.list("/subscriptions/" + sub));
  const role = (n) => (roles.find((r) => r.roleName === n) || fail("no role " + n)).id;
  const grants = [["Backup Contributor", "testVaultRG"], ["Virtual Machine Contributor", "testRG"], ["Virtual Machine Contributor", "restoreRG"]];
  for (const [r, rg] of grants) {
    await authz.roleAssignments.create(`/subscriptions/${sub}/resourceGroups/${rg}`, crypto.randomUUID(), { roleDefinitionId: role(r), principalId: sp.objectId, principalType: "ServicePrincipal" });
  }
  const assigned = await all(authz.roleAssignments.listForResourceGroup("testVaultRG"));
  if (!assigned.some((a) => a.principalId === sp.objectId)) fail("role assignment not listed");
  step("role assignments (arm-authorization)");

  // Everything from here runs as the backup operator.
  const op = credential(sp.appId, sp.clientSecret);
  const vaults = new RecoveryServicesClient(op, sub, clientOptions);
  const vault = await vaults.vaults.beginCreateOrUpdateAndWait("testVaultRG", "testVault", { location: "westus", sku: { name: "Standard" }, properties: {} });
  if (vault.properties.provisioningState !== "Succeeded" || vault.sku.name !== "Standard") fail("vault " + JSON.stringify(vault));
  step("vault (arm-recoveryservices " + vaults.apiVersion + ")");

  const bk = new RecoveryServicesBackupClient(op, sub, clientOptions);
  const R = ["testVault", "testVaultRG"];
  const policy = await bk.protectionPolicies.get(...R, "DefaultPolicy");
  if (policy.properties.backupManagementType !== "AzureIaasVM") fail("policy " + JSON.stringify(policy));
  // Its daily run (02:00 UTC) moved away from the script's steps, which
  // count one backup job and one recovery point.
  const quiet = quietTime();
  policy.properties.schedulePolicy.scheduleRunTimes = [quiet];
  policy.properties.retentionPolicy.dailySchedule.retentionTimes = [quiet];
  const moved = await bk.protectionPolicies.createOrUpdate(...R, "DefaultPolicy", policy);
  if (moved.properties.schedulePolicy.scheduleRunTimes[0].getTime() !== quiet.getTime()) fail("policy not moved " + JSON.stringify(moved));

  let refreshOp;
  await bk.protectionContainers.refresh(...R, "Azure", { filter: "backupManagementType eq 'AzureIaasVM'", onResponse: (r) => { refreshOp = r.headers.get("location"); } });
  if (!refreshOp) fail("refresh gave no Location");
  const opID = decodeURIComponent(new URL(refreshOp).pathname.split("/").pop());
  await waitUntil("refresh", async () => {
    let status;
    await bk.protectionContainerRefreshOperationResults.get(...R, "Azure", opID, { onResponse: (r) => { status = r.status; } });
    return status === 204;
  });
  const protectable = await all(bk.backupProtectableItems.list(...R, { filter: "backupManagementType eq 'AzureIaasVM'" }));
  const item = protectable.find((p) => p.properties.virtualMachineId && p.properties.virtualMachineId.toLowerCase() === vm.id.toLowerCase());
  if (!item) fail("VM not protectable: " + JSON.stringify(protectable));
  step("refresh and protectable items (arm-recoveryservicesbackup " + bk.apiVersion + ")");

  const container = "iaasvmcontainer;" + item.name;
  const itemName = "vm;" + item.name;
  const I = [...R, "Azure", container, itemName];
  await bk.protectedItems.createOrUpdate(...I, { properties: { protectedItemType: "Microsoft.Compute/virtualMachines", sourceResourceId: vm.id, policyId: policy.id } });
  await waitUntil("protection", async () => {
    try { const it = await bk.protectedItems.get(...I); return it.properties.protectionState === "IRPending" || it.properties.protectionState === "Protected"; } catch (e) { if (e.statusCode === 404) return false; throw e; }
  });
  step("protect VM");

  const until = new Date(Date.now() + 30 * 24 * 3600 * 1000);
  let backupOp;
  await bk.backups.trigger(...I, { properties: { objectType: "IaasVMBackupRequest", recoveryPointExpiryTimeInUTC: until } }, { onResponse: (r) => { backupOp = r.headers.get("azure-asyncoperation"); } });
  if (!backupOp) fail("backup gave no Azure-AsyncOperation");
  let jobId;
  await waitUntil("backup job", async () => {
    const jobs = await all(bk.backupJobs.list(...R, { filter: "operation eq 'Backup'" }));
    const j = jobs[0];
    if (!j) return false;
    jobId = j.name;
    if (j.properties.status === "Failed") fail("backup job failed " + JSON.stringify(j));
    return j.properties.status === "Completed";
  });
  const job = await bk.jobDetails.get(...R, jobId);
  if (job.properties.jobType !== "AzureIaaSVMJob" || job.properties.operation !== "Backup") fail("job " + JSON.stringify(job));
  step("backup job " + jobId);

  const points = await all(bk.recoveryPoints.list(...I));
  if (points.length !== 1) fail("recovery points " + JSON.stringify(points));
  const rp = points[0];
  step("recovery point " + rp.name);

  const usage = {};
  for (const u of await all(bk.backupUsageSummaries.list(...R, { filter: "backupManagementType eq 'AzureIaasVM'" }))) usage[u.name.value] = u.currentValue;
  if (usage.ProtectedItemCount !== 1 || usage.ProtectionContainerCount !== 1 || usage.RecoveryPointCount !== 1 || !(usage.StorageUsage >= 1 << 30)) fail("usage summaries " + JSON.stringify(usage));
  step("usage summaries " + JSON.stringify(usage));

  // Export the job list and read it back where the result says it is.
  let exportLoc;
  await bk.jobs.export(...R, { filter: "operation eq 'Backup'", onResponse: (r) => { exportLoc = r.headers.get("location"); } });
  if (!exportLoc) fail("export gave no Location");
  const exportID = decodeURIComponent(new URL(exportLoc).pathname.split("/").pop());
  const exported = await bk.exportJobsOperationResults.get(...R, exportID);
  if (exported.operation.objectType !== "ExportJobsOperationResultInfo" || !exported.operation.blobUrl) fail("export result " + JSON.stringify(exported));
  const blob = await raw.sendRequest(createPipelineRequest({ url: exported.operation.blobUrl, method: "GET" }));
  const jobsOut = JSON.parse(blob.bodyAsText).value;
  if (blob.status !== 200 || jobsOut.length !== 1 || jobsOut[0].name !== jobId) fail("exported jobs " + blob.status + " " + blob.bodyAsText);
  step("export jobs");

  // Restore the disks into restoreRG (staging storage account from Microsoft.Storage).
  const stg = new ServiceClient({ credential: admin, credentialScopes: [scope], baseUri: endpoint });
  const saID = `/subscriptions/${sub}/resourceGroups/testVaultRG/providers/Microsoft.Storage/storageAccounts/jsstaging`;
  const saResp = await stg.sendRequest(createPipelineRequest({ url: endpoint + saID + "?api-version=2023-01-01", method: "PUT", headers: createHttpHeaders({ "content-type": "application/json" }), body: JSON.stringify({ location: "westus", kind: "StorageV2", sku: { name: "Standard_LRS" } }) }));
  if (saResp.status !== 200) fail("storage account " + saResp.status + " " + saResp.bodyAsText);
  await bk.restores.beginTriggerAndWait(...I, rp.name, { properties: {
    objectType: "IaasVMRestoreRequest", recoveryPointId: rp.name, recoveryType: "RestoreDisks", sourceResourceId: vm.id,
    storageAccountId: saID, targetResourceGroupId: `/subscriptions/${sub}/resourceGroups/restoreRG`, region: "westus", originalStorageAccountOption: false, createNewCloudService: false,
  } }, { updateIntervalInMs: 200 });
  await waitUntil("restore job", async () => {
    const jobs = await all(bk.backupJobs.list(...R, { filter: "operation eq 'Restore'" }));
    if (jobs[0] && jobs[0].properties.status === "Failed") fail("restore failed " + JSON.stringify(jobs[0]));
    return jobs[0] && jobs[0].properties.status === "Completed";
  });
  const restored = await all(compute.disks.listByResourceGroup("restoreRG"));
  if (restored.length !== 1) fail("restored disks " + JSON.stringify(restored));
  step("restore disks");

  // Stop protection and delete the backup data.
  await bk.protectedItems.delete(...I);
  await waitUntil("delete", async () => {
    try { await bk.protectedItems.get(...I); return false; } catch (e) { if (e.statusCode === 404) return true; throw e; }
  });
  step("delete backup data");
  // Backup Contributor may not delete vaults (403, as in Azure): the admin does.
  await vaults.vaults.beginDeleteAndWait("testVaultRG", "testVault").then(() => fail("operator deleted the vault"), (e) => { if (e.statusCode !== 403) throw e; });
  const adminVaults = new RecoveryServicesClient(admin, sub, clientOptions);
  await adminVaults.vaults.beginDeleteAndWait("testVaultRG", "testVault", { updateIntervalInMs: 200 });
  await vaults.vaults.get("testVaultRG", "testVault").then(() => fail("vault still there"), (e) => { if (e.statusCode !== 404) throw e; });
  step("delete vault");
}

run(main, "seed 002 done");
