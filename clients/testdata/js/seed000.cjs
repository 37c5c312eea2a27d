// Seed 000 (Azure Disk backup through Microsoft.DataProtection) with the
// official JavaScript packages: @azure/arm-resources, @azure/arm-compute and
// @azure/arm-authorization at their default api-versions for the resource
// group, the disk and the vault identity's roles, and @azure/core-client's
// ServiceClient for the Data Protection paths (@azure/arm-dataprotection is
// not served by the npm registry here), at the api-version the current
// @azure/arm-dataprotection sends. Run by clients/clients_test.go with
// SAFEHOLD_CONNECTION (connection.json) and NODE_EXTRA_CA_CERTS (Safehold's
// CA); prints "ok" steps, exits 1 on failure.
"use strict";
const crypto = require("node:crypto");
const { ServiceClient } = require("@azure/core-client");
const { createHttpHeaders, createPipelineRequest } = require("@azure/core-rest-pipeline");
const { ResourceManagementClient } = require("@azure/arm-resources");
const { ComputeManagementClient } = require("@azure/arm-compute");
const { AuthorizationManagementClient } = require("@azure/arm-authorization");
const { endpoint, scope, sub, credential, clientOptions, step, fail, sleep, all, scheduleStart } = require("./lib.cjs");
const DP_API = "2025-07-01";
const cred = credential();

// The Data Protection paths through core-client: a ServiceClient with the
// same credential and token scope, JSON in and out.
const dpClient = new ServiceClient({ credential: cred, credentialScopes: [scope], baseUri: endpoint });
async function dp(method, path, body) {
  const url = (path.startsWith("http") ? path : endpoint + path + (path.includes("?") ? "&" : "?") + "api-version=" + DP_API);
  const resp = await dpClient.sendRequest(createPipelineRequest({
    url, method, headers: createHttpHeaders(body ? { "content-type": "application/json" } : {}), body: body ? JSON.stringify(body) : undefined,
  }));
  const text = resp.bodyAsText || "";
  return { status: resp.status, headers: resp.headers, body: text ? JSON.parse(text) : undefined };
}
function want(what, r, ...codes) {
  if (!codes.includes(r.status)) fail(what + ": " + r.status + " " + JSON.stringify(r.body));
  return r;
}
// poll follows Azure-AsyncOperation to a terminal status.
async function poll(what, r) {
  const url = r.headers.get("azure-asyncoperation");
  if (!url) fail(what + ": no Azure-AsyncOperation header");
  for (let i = 0; i < 600; i++) {
    const st = want(what + " status", await dp("GET", url), 200).body;
    if (st.status === "Succeeded") return st;
    if (st.status === "Failed" || st.status === "Canceled") fail(what + ": " + JSON.stringify(st));
    await sleep(200);
  }
  fail(what + ": timed out");
}

async function main() {
  const rgs = new ResourceManagementClient(cred, sub, clientOptions);
  for (const rg of ["TestBkpVaultRG", "RG-DiskBackup", "snapshot-rg"]) await rgs.resourceGroups.createOrUpdate(rg, { location: "westus" });
  const compute = new ComputeManagementClient(cred, sub, clientOptions);
  const disk = await compute.disks.beginCreateOrUpdateAndWait("RG-DiskBackup", "msdiskbackup", { location: "westus", creationData: { createOption: "Empty" }, diskSizeGB: 1 });
  if (disk.provisioningState !== "Succeeded") fail("disk " + JSON.stringify(disk));
  step("resource groups and disk (arm-resources, arm-compute)");

  const V = `/subscriptions/${sub}/resourceGroups/TestBkpVaultRG/providers/Microsoft.DataProtection/backupVaults/testBkpVault`;
  const vault = want("create vault", await dp("PUT", V, { location: "westUS", tags: { key1: "val1" }, identity: { type: "systemAssigned" },
    properties: { storageSettings: [{ datastoreType: "VaultStore", type: "LocallyRedundant" }] } }), 200, 201).body;
  const principal = vault.identity && vault.identity.principalId;
  if (!principal || vault.identity.type !== "SystemAssigned") fail("vault identity " + JSON.stringify(vault));
  step("backup vault (core-client, Microsoft.DataProtection " + DP_API + ")");

  const tagged = (name, duration) => ({ objectType: "AzureRetentionRule", name, isDefault: name === "Default",
    lifecycles: [{ sourceDataStore: { objectType: "DataStoreInfoBase", dataStoreType: "OperationalStore" }, deleteAfter: { objectType: "AbsoluteDeleteOption", duration }, targetDataStoreCopySettings: [] }] });
  const policyID = V + "/backupPolicies/DiskBackup-Policy";
  want("create policy", await dp("PUT", policyID, { properties: { objectType: "BackupPolicy", datasourceTypes: ["Microsoft.Compute/disks"], policyRules: [
    { objectType: "AzureBackupRule", name: "BackupHourly", backupParameters: { objectType: "AzureBackupParams", backupType: "Incremental" },
      dataStore: { objectType: "DataStoreInfoBase", dataStoreType: "OperationalStore" },
      trigger: { objectType: "ScheduleBasedTriggerContext", schedule: { repeatingTimeIntervals: ["R/" + scheduleStart() + "/PT4H"], timeZone: "UTC" },
        taggingCriteria: [{ isDefault: true, taggingPriority: 99, tagInfo: { tagName: "Default" } }] } },
    tagged("Default", "P7D")] } }), 200, 201);
  step("disk backup policy");

  // The vault's identity needs Disk Backup Reader on the disk and Disk
  // Snapshot Contributor on the snapshot resource group (arm-authorization).
  const authz = new AuthorizationManagementClient(cred, sub, clientOptions);
  const roles = await all(authz.roleDefinitions.list("/subscriptions/" + sub));
  const role = (n) => (roles.find((r) => r.roleName === n) || fail("no role " + n)).id;
  const snapshotRG = `/subscriptions/${sub}/resourceGroups/snapshot-rg`;
  for (const [r, s] of [["Disk Backup Reader", disk.id], ["Disk Snapshot Contributor", snapshotRG]]) {
    await authz.roleAssignments.create(s, crypto.randomUUID(), { roleDefinitionId: role(r), principalId: principal, principalType: "ServicePrincipal" });
  }
  step("roles for the vault identity (arm-authorization)");

  const instance = { objectType: "BackupInstance",
    dataSourceInfo: { datasourceType: "Microsoft.Compute/disks", objectType: "Datasource", resourceID: disk.id, resourceLocation: "westus",
      resourceName: "msdiskbackup", resourceType: "Microsoft.Compute/disks", resourceUri: "" },
    policyInfo: { policyId: policyID, policyParameters: { dataStoreParametersList: [
      { dataStoreType: "OperationalStore", objectType: "AzureOperationalStoreParameters", resourceGroupId: snapshotRG }] } } };
  const vst = await poll("validateForBackup", want("validateForBackup", await dp("POST", V + "/validateForBackup", { backupInstance: instance }), 202));
  if (!vst.properties || vst.properties.objectType !== "OperationJobExtendedInfo") fail("validateForBackup status " + JSON.stringify(vst));
  step("validateForBackup");

  const BI = V + "/backupInstances/msdiskbackup-bi";
  await poll("configure protection", want("configure protection", await dp("PUT", BI, { properties: instance }), 200, 201));
  const bi = want("backup instance", await dp("GET", BI), 200).body;
  if (bi.properties.currentProtectionState !== "ProtectionConfigured" || bi.properties.protectionStatus.status !== "ProtectionConfigured") fail("instance " + JSON.stringify(bi));
  step("backup instance configured");

  const bst = await poll("ad hoc backup", want("ad hoc backup", await dp("POST", BI + "/backup",
    { backupRuleOptions: { ruleName: "BackupHourly", triggerOption: { retentionTagOverride: "Default" } } }), 202));
  const jobId = bst.properties && bst.properties.jobId;
  if (!jobId) fail("backup status has no jobId " + JSON.stringify(bst));
  let job;
  for (let i = 0; i < 600; i++) {
    job = want("job", await dp("GET", V + "/backupJobs/" + jobId), 200).body;
    if (job.properties.status !== "InProgress" && job.properties.status !== "Started") break;
    await sleep(200);
  }
  if (job.properties.status !== "Completed") fail("backup job " + JSON.stringify(job));
  const points = want("recovery points", await dp("GET", BI + "/recoveryPoints"), 200).body.value;
  if (points.length !== 1) fail("recovery points " + JSON.stringify(points));
  step("ad hoc backup, job and recovery point");

  await poll("stop protection and delete data", want("delete instance", await dp("DELETE", BI), 202));
  want("deleted instance", await dp("GET", BI), 404);
  step("stop protection and delete data");
  console.log("seed 000 done");
}

main().catch((e) => { console.error(e && e.stack || e); process.exit(1); });
