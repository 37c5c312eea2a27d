// The calls JavaScript SDK users reach for around disk and VM backup beyond
// the seed flows, every package at its default api-version
// (@azure/arm-compute 24, @azure/arm-recoveryservices 6,
// @azure/arm-recoveryservicesbackup 12; SAFEHOLD_JS_COMPUTE and
// SAFEHOLD_JS_RS name other packages, e.g. npm aliases of newer majors): disks from empty, copy, snapshot
// and upload; incremental snapshots; disk encryption sets and disk
// accesses; VMs with deleteOption, power actions, status-only lists, VM
// sizes, resource SKUs and attachDetachDataDisks; the Compute operations
// catalog; vault and backup config resources; V1 and Enhanced policies;
// protection containers (register, unregister, inquire, protectable
// containers, workload items); usage summaries by type; a restore of the
// disks into an availability zone. Run by
// clients/clients_test.go with SAFEHOLD_CONNECTION (connection.json) and
// NODE_EXTRA_CA_CERTS (Safehold's CA); prints "ok" steps, exits 1 on failure.
"use strict";
const { sub, credential, clientOptions, step, fail, waitUntil, all, run, eq, rejects, poll, lro, jobDone, quietTime } = require("./lib.cjs");
const { ResourceManagementClient } = require("@azure/arm-resources");
const pkg = (env, def) => require(process.env[env] || def);
const { ComputeManagementClient } = pkg("SAFEHOLD_JS_COMPUTE", "@azure/arm-compute");
const { StorageManagementClient } = require("@azure/arm-storage");
const { RecoveryServicesClient } = pkg("SAFEHOLD_JS_RS", "@azure/arm-recoveryservices");
const { RecoveryServicesBackupClient } = require("@azure/arm-recoveryservicesbackup");

const cred = credential();
const RG = "wideRG";
const diskID = (name) => `/subscriptions/${sub}/resourceGroups/${RG}/providers/Microsoft.Compute/disks/${name}`;

async function main() {
  const rgs = new ResourceManagementClient(cred, sub, clientOptions);
  for (const rg of [RG, "wideVaultRG"]) await rgs.resourceGroups.createOrUpdate(rg, { location: "westus" });
  const c = new ComputeManagementClient(cred, sub, clientOptions);

  // Disks: empty, a copy, an upload written through its SAS, then updated.
  const d1 = await lro(c.disks, "createOrUpdate", RG, "d1", { location: "westus", sku: { name: "Premium_LRS" }, creationData: { createOption: "Empty" }, diskSizeGB: 1, osType: "Linux" });
  eq("empty disk", d1.diskSizeBytes, 1 << 30);
  const d2 = await lro(c.disks, "createOrUpdate", RG, "d2", { location: "westus", creationData: { createOption: "Copy", sourceResourceId: d1.id } });
  eq("copy source", d2.creationData.sourceUniqueId, d1.uniqueId);
  const up = await lro(c.disks, "createOrUpdate", RG, "up", { location: "westus", creationData: { createOption: "Upload", uploadSizeBytes: (20 << 20) + 512 } });
  eq("upload disk state", up.diskState, "ReadyToUpload");
  const wa = await lro(c.disks, "grantAccess", RG, "up", { access: "Write", durationInSeconds: 600 });
  eq("upload state after grant", (await c.disks.get(RG, "up")).diskState, "ActiveUpload");
  const put = await fetch(wa.accessSAS + "&comp=page", { method: "PUT", headers: { "x-ms-page-write": "update", "x-ms-range": "bytes=0-511" }, body: Buffer.alloc(512, 7) });
  eq("page write", put.status, 201);
  await lro(c.disks, "revokeAccess", RG, "up");
  eq("upload state after revoke", (await c.disks.get(RG, "up")).diskState, "Unattached");
  const ra = await lro(c.disks, "grantAccess", RG, "up", { access: "Read", durationInSeconds: 600 });
  const back = Buffer.from(await (await fetch(ra.accessSAS, { headers: { "x-ms-range": "bytes=0-1023" } })).arrayBuffer());
  if (back[0] !== 7 || back[511] !== 7 || back[512] !== 0) fail("uploaded bytes read back " + back.subarray(0, 8).toString("hex"));
  await lro(c.disks, "revokeAccess", RG, "up");
  const grown = await lro(c.disks, "update", RG, "d2", { diskSizeGB: 2, sku: { name: "StandardSSD_LRS" }, tags: { t: "1" } });
  eq("grown disk", grown.diskSizeGB, 2);
  eq("disk sku", grown.sku.name, "StandardSSD_LRS");
  await rejects("shrink", lro(c.disks, "update", RG, "d2", { diskSizeGB: 1 }), 400);
  eq("disks in group", (await all(c.disks.listByResourceGroup(RG))).length, 3);
  if (!(await all(c.disks.list())).some((d) => d.id === up.id)) fail("disk not in the subscription's list");
  step("disks: empty, copy, upload through the SAS, update (arm-compute)");

  // Snapshots: full and incremental, a copy of a snapshot, a disk from one.
  const s1 = await lro(c.snapshots, "createOrUpdate", RG, "s1", { location: "westus", creationData: { createOption: "Copy", sourceResourceId: up.id } });
  eq("full snapshot", s1.incremental, false);
  const s2 = await lro(c.snapshots, "createOrUpdate", RG, "s2", { location: "westus", incremental: true, creationData: { createOption: "Copy", sourceResourceId: up.id } });
  eq("incremental", s2.incremental, true);
  eq("incremental family", s2.incrementalSnapshotFamilyId, up.uniqueId);
  const s3 = await lro(c.snapshots, "createOrUpdate", RG, "s3", { location: "westus", creationData: { createOption: "Copy", sourceResourceId: s1.id } });
  eq("snapshot of a snapshot", s3.diskSizeBytes, s1.diskSizeBytes);
  const fromSnap = await lro(c.disks, "createOrUpdate", RG, "fromSnap", { location: "westus", creationData: { createOption: "Copy", sourceResourceId: s2.id } });
  const sa = await lro(c.snapshots, "grantAccess", RG, "s2", { access: "Read", durationInSeconds: 600 });
  const first = Buffer.from(await (await fetch(sa.accessSAS, { headers: { "x-ms-range": "bytes=0-511" } })).arrayBuffer());
  eq("snapshot bytes", first[100], 7);
  await lro(c.snapshots, "revokeAccess", RG, "s2");
  eq("snapshots in group", (await all(c.snapshots.listByResourceGroup(RG))).length, 3);
  if (!(await all(c.snapshots.list())).some((s) => s.id === s2.id)) fail("snapshot not in the subscription's list");
  await lro(c.disks, "delete", RG, "fromSnap");
  await rejects("deleted disk", c.disks.get(RG, fromSnap.name), 404);
  step("snapshots: full, incremental, copy, disk from snapshot, grant access");

  // Disk encryption sets and disk accesses, and a disk naming both.
  const des = await lro(c.diskEncryptionSets, "createOrUpdate", RG, "des", { location: "westus", identity: { type: "SystemAssigned" }, activeKey: { keyUrl: "https://kv.vault.azure.net/keys/k/0123456789abcdef0123456789abcdef" } });
  eq("set type", des.encryptionType, "EncryptionAtRestWithCustomerKey");
  if (!des.identity || !des.identity.principalId) fail("set identity " + JSON.stringify(des.identity));
  eq("set update", (await lro(c.diskEncryptionSets, "update", RG, "des", { rotationToLatestKeyVersionEnabled: true })).rotationToLatestKeyVersionEnabled, true);
  const da = await lro(c.diskAccesses, "createOrUpdate", RG, "da", { location: "westus" });
  eq("disk access", da.provisioningState, "Succeeded");
  eq("private link resources", (await c.diskAccesses.getPrivateLinkResources(RG, "da")).value[0].groupId, "disks");
  eq("sets listed", (await all(c.diskEncryptionSets.list())).length, 1);
  eq("accesses listed", (await all(c.diskAccesses.listByResourceGroup(RG))).length, 1);
  const enc = await lro(c.disks, "createOrUpdate", RG, "enc", { location: "westus", creationData: { createOption: "Empty" }, diskSizeGB: 1, encryption: { diskEncryptionSetId: des.id, type: "EncryptionAtRestWithCustomerKey" }, networkAccessPolicy: "AllowPrivate", diskAccessId: da.id });
  eq("disk's set", enc.encryption.diskEncryptionSetId.toLowerCase(), des.id.toLowerCase());
  eq("associated", (await all(c.diskEncryptionSets.listAssociatedResources(RG, "des")))[0].toLowerCase(), enc.id.toLowerCase());
  await rejects("delete a set in use", lro(c.diskEncryptionSets, "delete", RG, "des"), 409, "OperationNotAllowed");
  await lro(c.disks, "delete", RG, "enc");
  await lro(c.diskEncryptionSets, "delete", RG, "des");
  await lro(c.diskAccesses, "delete", RG, "da");
  await rejects("deleted set", c.diskEncryptionSets.get(RG, "des"), 404);
  step("disk encryption set, disk access, a disk naming both");

  // VMs: disks with deleteOption, power actions, lists, sizes, attach/detach.
  const os = await lro(c.disks, "createOrUpdate", RG, "vmA-os", { location: "westus", creationData: { createOption: "Empty" }, diskSizeGB: 1, osType: "Linux" });
  const vm = await lro(c.virtualMachines, "createOrUpdate", RG, "vmA", {
    location: "westus", hardwareProfile: { vmSize: "Standard_D2s_v3" },
    storageProfile: {
      osDisk: { osType: "Linux", createOption: "Attach", managedDisk: { id: os.id }, deleteOption: "Delete" },
      dataDisks: [{ lun: 0, name: "vmA-data0", createOption: "Empty", diskSizeGB: 1, deleteOption: "Delete" }, { lun: 1, createOption: "Attach", managedDisk: { id: d2.id } }],
    },
  });
  eq("os deleteOption", vm.storageProfile.osDisk.deleteOption, "Delete");
  eq("empty data disk deleteOption", vm.storageProfile.dataDisks[0].deleteOption, "Delete");
  eq("attached data disk deleteOption", vm.storageProfile.dataDisks[1].deleteOption, "Detach");
  await rejects("a deleteOption of no kind", lro(c.virtualMachines, "createOrUpdate", RG, "vmBad", { location: "westus", storageProfile: { osDisk: { createOption: "Attach", managedDisk: { id: d1.id }, deleteOption: "Keep" } } }), 400, "InvalidParameter");
  const power = async () => (await c.virtualMachines.instanceView(RG, "vmA")).statuses.find((s) => s.code.startsWith("PowerState/")).code;
  eq("expand=instanceView", (await c.virtualMachines.get(RG, "vmA", { expand: "instanceView" })).instanceView.statuses.find((s) => s.code.startsWith("PowerState/")).code, "PowerState/running");
  await lro(c.virtualMachines, "powerOff", RG, "vmA");
  eq("after powerOff", await power(), "PowerState/stopped");
  await lro(c.virtualMachines, "deallocate", RG, "vmA");
  eq("after deallocate", await power(), "PowerState/deallocated");
  eq("disk of a deallocated VM", (await c.disks.get(RG, "d2")).diskState, "Reserved");
  await lro(c.virtualMachines, "start", RG, "vmA");
  eq("after start", await power(), "PowerState/running");
  eq("VMs in group", (await all(c.virtualMachines.list(RG))).length, 1);
  const statusOnly = await all(c.virtualMachines.listAll({ statusOnly: "true" }));
  if (!statusOnly[0].instanceView || !statusOnly[0].instanceView.statuses.some((s) => s.code === "PowerState/running")) fail("listAll statusOnly " + JSON.stringify(statusOnly[0].instanceView));
  const sizes = await all(c.virtualMachineSizes.list("westus"));
  const d2s = sizes.find((s) => s.name === "Standard_D2s_v3");
  if (!d2s || d2s.numberOfCores !== 2 || d2s.memoryInMB !== 8192) fail("sizes of westus " + JSON.stringify(d2s));
  if (!(await all(c.virtualMachines.listAvailableSizes(RG, "vmA"))).some((s) => s.name === "Standard_D2s_v3")) fail("the VM's available sizes lack its own");
  const skus = await all(c.resourceSkus.list({ filter: "location eq 'westus'" }));
  const skuD2s = skus.find((k) => k.resourceType === "virtualMachines" && k.name === "Standard_D2s_v3");
  if (!skuD2s || !skuD2s.capabilities.some((x) => x.name === "vCPUs" && x.value === "2") || skuD2s.locations[0] !== "westus") fail("SKU of Standard_D2s_v3 " + JSON.stringify(skuD2s));
  if (skus.some((k) => k.locationInfo[0].zones.length || k.name.endsWith("_ZRS"))) fail("westus, a region without zones, lists zones or a zone-redundant SKU");
  const east = await all(c.resourceSkus.list({ filter: "location eq 'eastus'" }));
  if (!east.some((k) => k.resourceType === "disks" && k.name === "Premium_ZRS" && k.locationInfo[0].zones.join() === "1,2,3")) fail("no zonal Premium_ZRS disk SKU in eastus");
  if ((await all(c.resourceSkus.list())).length <= skus.length) fail("the unfiltered SKU list is no longer than one location's");
  await rejects("SKUs by another filter", all(c.resourceSkus.list({ filter: "name eq 'x'" })), 400, "InvalidFilter");
  const computeOps = await all(c.operations.list());
  if (!computeOps.some((o) => o.name === "Microsoft.Compute/disks/read")) fail("Compute operations lack disks/read");
  const extra = await lro(c.disks, "createOrUpdate", RG, "extra", { location: "westus", creationData: { createOption: "Empty" }, diskSizeGB: 1 });
  const profile = await lro(c.virtualMachines, "attachDetachDataDisks", RG, "vmA", { dataDisksToAttach: [{ diskId: extra.id }], dataDisksToDetach: [{ diskId: d2.id }] });
  // (The lowest free lun, once the detached disk freed lun 1.)
  eq("luns after attach/detach", JSON.stringify(profile.dataDisks.map((d) => [d.lun, d.name])), JSON.stringify([[0, "vmA-data0"], [1, "extra"]]));
  eq("detached disk", (await c.disks.get(RG, "d2")).diskState, "Unattached");
  eq("attached disk", (await c.disks.get(RG, "extra")).managedBy.toLowerCase(), vm.id.toLowerCase());
  await rejects("detach a disk the VM lacks", lro(c.virtualMachines, "attachDetachDataDisks", RG, "vmA", { dataDisksToDetach: [{ diskId: d2.id }] }), 400, "InvalidParameter");
  // An update (PATCH) that adds a new empty data disk creates it.
  const patched = await lro(c.virtualMachines, "update", RG, "vmA", { storageProfile: { dataDisks: [...profile.dataDisks, { lun: 5, name: "vmA-data5", createOption: "Empty", diskSizeGB: 2, deleteOption: "Delete" }] } });
  eq("data disks after the update", JSON.stringify(patched.storageProfile.dataDisks.map((d) => [d.lun, d.name, d.deleteOption])), JSON.stringify([[0, "vmA-data0", "Delete"], [1, "extra", "Detach"], [5, "vmA-data5", "Delete"]]));
  eq("new data disk", (await c.disks.get(RG, "vmA-data5")).diskSizeGB, 2);
  await lro(c.virtualMachines, "delete", RG, "vmA");
  await rejects("data disk the update made deleted with the VM", c.disks.get(RG, "vmA-data5"), 404);
  await rejects("OS disk deleted with the VM", c.disks.get(RG, "vmA-os"), 404);
  await rejects("data disk deleted with the VM", c.disks.get(RG, "vmA-data0"), 404);
  eq("attached disk kept", (await c.disks.get(RG, "extra")).diskState, "Unattached");
  step("VM: deleteOption, power, statusOnly, sizes, SKUs, operations, attach/detach, a disk added by update");

  // The Recovery Services vault and its config resources.
  const rs = new RecoveryServicesClient(cred, sub, clientOptions);
  const V = ["wideVaultRG", "wideVault"];
  const vault = await lro(rs.vaults, "createOrUpdate", ...V, { location: "westus", sku: { name: "RS0", tier: "Standard" }, properties: { publicNetworkAccess: "Enabled" } });
  eq("vault", vault.properties.provisioningState, "Succeeded");
  eq("vault update", (await lro(rs.vaults, "update", ...V, { tags: { k: "v" } })).tags.k, "v");
  eq("vaults in group", (await all(rs.vaults.listByResourceGroup("wideVaultRG"))).length, 1);
  if (!(await all(rs.vaults.listBySubscriptionId())).some((v) => v.id === vault.id)) fail("vault not in the subscription's list");
  eq("name free", (await rs.recoveryServices.checkNameAvailability("wideVaultRG", "westus", { type: "Microsoft.RecoveryServices/Vaults", name: "otherVault" })).nameAvailable, true);
  const bk = new RecoveryServicesBackupClient(cred, sub, clientOptions);
  const R = ["wideVault", "wideVaultRG"];
  const stg = await bk.backupResourceStorageConfigsNonCRR.update(...R, { properties: { storageModelType: "LocallyRedundant", crossRegionRestoreFlag: false } });
  eq("storage config", stg.properties.storageType, "LocallyRedundant");
  const cfg = await bk.backupResourceVaultConfigs.put(...R, { properties: { softDeleteFeatureState: "Disabled", enhancedSecurityState: "Enabled" } });
  eq("vault config", cfg.properties.softDeleteFeatureState, "Disabled");
  eq("vault config read", (await bk.backupResourceVaultConfigs.get(...R)).properties.softDeleteFeatureState, "Disabled");
  step("vault, storage and vault config (arm-recoveryservices " + rs.apiVersion + ", arm-recoveryservicesbackup " + bk.apiVersion + ")");

  // A V1 weekly policy and an Enhanced (V2) hourly one; the V2 one deleted.
  const at = quietTime(); // runs away from the steps, which count one recovery point
  const weekly = await bk.protectionPolicies.createOrUpdate(...R, "weekly", { properties: {
    backupManagementType: "AzureIaasVM", timeZone: "UTC", instantRpRetentionRangeInDays: 5, policyType: "V1",
    schedulePolicy: { schedulePolicyType: "SimpleSchedulePolicy", scheduleRunFrequency: "Weekly", scheduleRunDays: ["Sunday"], scheduleRunTimes: [at] },
    retentionPolicy: { retentionPolicyType: "LongTermRetentionPolicy", weeklySchedule: { daysOfTheWeek: ["Sunday"], retentionTimes: [at], retentionDuration: { count: 12, durationType: "Weeks" } } },
  } });
  eq("weekly policy", weekly.properties.schedulePolicy.scheduleRunDays[0], "Sunday");
  const hourly = await bk.protectionPolicies.createOrUpdate(...R, "hourly", { properties: {
    backupManagementType: "AzureIaasVM", timeZone: "UTC", instantRpRetentionRangeInDays: 7, policyType: "V2",
    schedulePolicy: { schedulePolicyType: "SimpleSchedulePolicyV2", scheduleRunFrequency: "Hourly", hourlySchedule: { interval: 4, scheduleWindowStartTime: at, scheduleWindowDuration: 16 } },
    retentionPolicy: { retentionPolicyType: "LongTermRetentionPolicy", dailySchedule: { retentionTimes: [at], retentionDuration: { count: 30, durationType: "Days" } } },
  } });
  eq("enhanced policy", (await bk.protectionPolicies.get(...R, "hourly")).properties.schedulePolicy.hourlySchedule.interval, 4);
  eq("enhanced policy type", hourly.properties.policyType, "V2");
  await bk.protectionPolicies.beginDeleteAndWait(...R, "hourly", poll);
  await rejects("deleted policy", bk.protectionPolicies.get(...R, "hourly"), 404);
  if (!(await all(bk.backupPolicies.list(...R, { filter: "backupManagementType eq 'AzureIaasVM'" }))).some((p) => p.name === "weekly")) fail("weekly policy not listed");
  step("V1 and Enhanced policies");

  // Protect a VM; the containers around it.
  const os2 = await lro(c.disks, "createOrUpdate", RG, "vmB-os", { location: "westus", creationData: { createOption: "Empty" }, diskSizeGB: 1, osType: "Linux" });
  const vmB = await lro(c.virtualMachines, "createOrUpdate", RG, "vmB", { location: "westus", hardwareProfile: { vmSize: "Standard_B2s" }, storageProfile: { osDisk: { createOption: "Attach", managedDisk: { id: os2.id } } } });
  const C = `iaasvmcontainer;iaasvmcontainerv2;${RG};vmB`;
  const I = [...R, "Azure", C, `vm;iaasvmcontainerv2;${RG};vmB`];
  await bk.protectedItems.createOrUpdate(...I, { properties: { protectedItemType: "Microsoft.Compute/virtualMachines", sourceResourceId: vmB.id, policyId: weekly.id } });
  await waitUntil("protection", async () => {
    try { return ["IRPending", "Protected"].includes((await bk.protectedItems.get(...I)).properties.protectionState); } catch (e) { if (e.statusCode === 404) return false; throw e; }
  });
  eq("items of the policy", (await all(bk.backupProtectedItems.list(...R, { filter: "backupManagementType eq 'AzureIaasVM' and policyName eq 'weekly'" }))).length, 1);
  eq("items by friendly name", (await all(bk.backupProtectedItems.list(...R, { filter: "backupManagementType eq 'AzureIaasVM' and friendlyName eq 'vmB'" }))).length, 1);
  eq("protectable containers", (await all(bk.protectableContainers.list(...R, "Azure", { filter: "backupManagementType eq 'AzureIaasVM'" }))).length, 0);
  eq("workload items", (await all(bk.backupWorkloadItems.list(...R, "Azure", C))).length, 0);
  await rejects("register", bk.protectionContainers.beginRegisterAndWait(...R, "Azure", "StorageContainer;Storage;wideVaultRG;acct", { properties: { containerType: "StorageContainer", backupManagementType: "AzureStorage" } }, poll), 400, "OperationNotSupported");
  await rejects("inquire", bk.protectionContainers.inquire(...R, "Azure", C), 400, "OperationNotSupported");
  await rejects("unregister while protected", bk.protectionContainers.unregister(...R, "Azure", C), 400, "BMSUserErrorContainerHasDatasources");
  step("protect a VM; protectable containers, workload items, register, inquire, unregister");

  // A backup, then the usage summaries by type.
  const until = new Date(Date.now() + 30 * 24 * 3600 * 1000);
  await bk.backups.trigger(...I, { properties: { objectType: "IaasVMBackupRequest", recoveryPointExpiryTimeInUTC: until } });
  await jobDone(bk, R, "Backup");
  const points = await all(bk.recoveryPoints.list(...I));
  eq("recovery points", points.length, 1);
  const byType = async (type) => (await all(bk.backupUsageSummaries.list(...R, { filter: `type eq '${type}'` }))).map((u) => [u.name.value, u.currentValue]);
  eq("protected items by type", JSON.stringify(await byType("BackupProtectedItemCountSummary")), JSON.stringify([["AzureIaasVM", 1]]));
  eq("containers by type", JSON.stringify(await byType("BackupProtectionContainerCountSummary")), JSON.stringify([["AzureIaasVM", 1]]));
  await rejects("usage of no type", all(bk.backupUsageSummaries.list(...R, { filter: "type eq 'Bogus'" })), 400, "InvalidFilter");
  step("backup, usage summaries by type");

  // Restore the disks: a zone of westus, which has none, is refused (the
  // disk was made in zone 2 of westus); without one, a regional disk.
  const staging = await lro(new StorageManagementClient(cred, sub, clientOptions).storageAccounts, "create", "wideVaultRG", "widestaging", { location: "westus", kind: "StorageV2", sku: { name: "Standard_LRS" } });
  await rgs.resourceGroups.createOrUpdate("wideRestoreRG", { location: "westus" });
  const restoreReq = (zones) => ({ properties: { objectType: "IaasVMRestoreRequest", recoveryPointId: points[0].name, recoveryType: "RestoreDisks", sourceResourceId: vmB.id,
    storageAccountId: staging.id, targetResourceGroupId: `/subscriptions/${sub}/resourceGroups/wideRestoreRG`, region: "westus", originalStorageAccountOption: false, createNewCloudService: false, zones } });
  await rejects("restore into no zone", bk.restores.beginTriggerAndWait(...I, points[0].name, restoreReq(["7"]), poll), 400, "BMSUserErrorInvalidRestoreInput");
  await rejects("restore into a zone of westus", bk.restores.beginTriggerAndWait(...I, points[0].name, restoreReq(["2"]), poll), 400, "BMSUserErrorInvalidRestoreInput");
  await bk.restores.beginTriggerAndWait(...I, points[0].name, restoreReq(undefined), poll);
  await jobDone(bk, R, "Restore");
  const restored = await all(c.disks.listByResourceGroup("wideRestoreRG"));
  eq("restored disks", restored.length, 1);
  eq("restored disk's zones", JSON.stringify(restored[0].zones ?? []), "[]");
  step("restore disks (a zone of westus refused)");

  // Stop protection and delete the data: the container goes with it.
  await bk.protectedItems.delete(...I);
  await waitUntil("delete", async () => {
    try { await bk.protectedItems.get(...I); return false; } catch (e) { if (e.statusCode === 404) return true; throw e; }
  });
  await bk.protectionContainers.unregister(...R, "Azure", C);
  await rejects("container gone", bk.protectionContainers.get(...R, "Azure", C), 404);
  await lro(rs.vaults, "delete", ...V);
  await rejects("deleted vault", rs.vaults.get(...V), 404);
  step("delete backup data, unregister, delete vault");
}

run(main, "sdkwide done");
