// Management locks through @azure/arm-locks 2 (its default api-version,
// 2020-05-01) beside @azure/arm-resources 5, @azure/arm-compute 24 and
// @azure/arm-recoveryservices 6, as an operator protects what holds backups:
// locks at subscription, group and resource scope and on a nested scope (a
// vault's backup policy) by scope, every get and list, the deletes and
// writes they refuse (409 ScopeLocked naming the lock) and what they still
// allow, bad input (400 with a code), and the locks' own deletes lifting them.
// Run by clients/clients_test.go with SAFEHOLD_CONNECTION (connection.json)
// and NODE_EXTRA_CA_CERTS (Safehold's CA); prints "ok" steps, exits 1 on
// failure.
"use strict";
const { sub, credential, clientOptions, step, fail, all, run, eq, rejects, lro } = require("./lib.cjs");
const { ResourceManagementClient } = require("@azure/arm-resources");
const { ComputeManagementClient } = require("@azure/arm-compute");
const { RecoveryServicesClient } = require("@azure/arm-recoveryservices");
const { ManagementLockClient } = require("@azure/arm-locks");

const cred = credential();
const RG = "locksRG", OTHER = "locksOtherRG";
const names = (list) => list.map((l) => l.name).sort().join(",");

async function main() {
  const rgs = new ResourceManagementClient(cred, sub, clientOptions);
  for (const rg of [RG, OTHER]) await rgs.resourceGroups.createOrUpdate(rg, { location: "westus" });
  const c = new ComputeManagementClient(cred, sub, clientOptions);
  const disk = (rg, name) => lro(c.disks, "createOrUpdate", rg, name, { location: "westus", creationData: { createOption: "Empty" }, diskSizeGB: 1 });
  const d1 = await disk(RG, "d1");
  await disk(OTHER, "d2");
  const rs = new RecoveryServicesClient(cred, sub, clientOptions);
  const vault = await lro(rs.vaults, "createOrUpdate", RG, "v1", { location: "westus", sku: { name: "Standard" }, properties: { publicNetworkAccess: "Enabled" } });
  const locks = new ManagementLockClient(cred, sub, clientOptions);
  step("group, disks and a vault");

  // Bad input: a clear 400 with a code.
  await rejects("unknown level", locks.managementLocks.createOrUpdateAtResourceGroupLevel(RG, "l1", { level: "Sometimes" }), 400, "InvalidLockLevel");
  await rejects("notes over 512", locks.managementLocks.createOrUpdateAtResourceGroupLevel(RG, "l1", { level: "ReadOnly", notes: "n".repeat(513) }), 400, "LockNotesTooLong");
  await rejects("name ending in a dot", locks.managementLocks.createOrUpdateAtResourceGroupLevel(RG, "bad.", { level: "ReadOnly" }), 400, "InvalidLockName");
  await rejects("lock of a missing group", locks.managementLocks.createOrUpdateAtResourceGroupLevel("noSuchRG", "l1", { level: "ReadOnly" }), 404, "ResourceGroupNotFound");
  step("bad input refused");

  // CanNotDelete on the group.
  const keep = await locks.managementLocks.createOrUpdateAtResourceGroupLevel(RG, "keep", { level: "CanNotDelete", notes: "production backups", owners: [{ applicationId: "app-1" }] });
  eq("lock id", keep.id.toLowerCase(), `/subscriptions/${sub}/resourcegroups/${RG}/providers/microsoft.authorization/locks/keep`.toLowerCase());
  eq("lock type", keep.type, "Microsoft.Authorization/locks");
  eq("lock notes", keep.notes, "production backups");
  eq("lock owner", keep.owners && keep.owners[0].applicationId, "app-1");
  eq("lock got", (await locks.managementLocks.getAtResourceGroupLevel(RG, "keep")).level, "CanNotDelete");
  await rejects("missing lock", locks.managementLocks.getAtResourceGroupLevel(RG, "nope"), 404, "LockNotFound");
  const refused = await rejects("delete a disk of a locked group", lro(c.disks, "delete", RG, "d1"), 409, "ScopeLocked");
  if (!refused.message.includes("keep")) fail("the refusal does not name the lock: " + refused.message);
  await rejects("delete a vault of a locked group", lro(rs.vaults, "delete", RG, "v1"), 409, "ScopeLocked");
  await rejects("delete the locked group", lro(rgs.resourceGroups, "delete", RG), 409, "ScopeLocked");
  // ... but written and read.
  const tagged = await lro(c.disks, "update", RG, "d1", { tags: { env: "prod" } });
  eq("tagged under CanNotDelete", tagged.tags.env, "prod");
  await c.disks.get(RG, "d1");
  step("CanNotDelete on a group refuses deletes only");

  // ReadOnly on a disk (no parent path) and, by scope, on a vault's policy.
  await locks.managementLocks.createOrUpdateAtResourceLevel(OTHER, "Microsoft.Compute", "", "disks", "d2", "frozen", { level: "ReadOnly" });
  const { RecoveryServicesBackupClient } = require("@azure/arm-recoveryservicesbackup");
  const bk = new RecoveryServicesBackupClient(cred, sub, clientOptions);
  const pol = await bk.protectionPolicies.createOrUpdate("v1", RG, "daily", { properties: { backupManagementType: "AzureIaasVM", schedulePolicy: { schedulePolicyType: "SimpleSchedulePolicy", scheduleRunFrequency: "Daily", scheduleRunTimes: [new Date("2026-01-01T02:00:00Z")] }, retentionPolicy: { retentionPolicyType: "LongTermRetentionPolicy", dailySchedule: { retentionTimes: [new Date("2026-01-01T02:00:00Z")], retentionDuration: { count: 7, durationType: "Days" } } }, timeZone: "UTC" } });
  await locks.managementLocks.createOrUpdateByScope(pol.id, "pol-ro", { level: "ReadOnly" });
  await rejects("update a ReadOnly disk", lro(c.disks, "update", OTHER, "d2", { tags: { a: "b" } }), 409, "ScopeLocked");
  await rejects("grant access to a ReadOnly disk", lro(c.disks, "grantAccess", OTHER, "d2", { access: "Read", durationInSeconds: 600 }), 409, "ScopeLocked");
  await rejects("delete a group holding a ReadOnly disk", lro(rgs.resourceGroups, "delete", OTHER), 409, "ScopeLocked");
  await rejects("update a ReadOnly policy", bk.protectionPolicies.createOrUpdate("v1", RG, "daily", pol), 409, "ScopeLocked");
  eq("ReadOnly disk read", (await c.disks.get(OTHER, "d2")).name, "d2");
  step("ReadOnly on a disk and on a policy refuses writes");

  // Lists at every level.
  eq("at the group", names(await all(locks.managementLocks.listAtResourceGroupLevel(RG))), "keep,pol-ro");
  eq("at the disk", names(await all(locks.managementLocks.listAtResourceLevel(OTHER, "Microsoft.Compute", "", "disks", "d2"))), "frozen");
  eq("at the subscription", names(await all(locks.managementLocks.listAtSubscriptionLevel())), "frozen,keep,pol-ro");
  eq("by the policy's scope", names(await all(locks.managementLocks.listByScope(pol.id))), "keep,pol-ro");
  eq("at the group itself ($filter=atScope())", names(await all(locks.managementLocks.listAtResourceGroupLevel(RG, { filter: "atScope()" }))), "keep");
  eq("got by scope", (await locks.managementLocks.getByScope(pol.id, "pol-ro")).level, "ReadOnly");
  step("lists at subscription, group, resource and scope");

  // A subscription-wide ReadOnly lock refuses writes anywhere, even a new group.
  await locks.managementLocks.createOrUpdateAtSubscriptionLevel("freeze-all", { level: "ReadOnly", notes: "maintenance" });
  await rejects("a group under a ReadOnly subscription", rgs.resourceGroups.createOrUpdate("newRG", { location: "westus" }), 409, "ScopeLocked");
  eq("sub lock got", (await locks.managementLocks.getAtSubscriptionLevel("freeze-all")).notes, "maintenance");
  await locks.managementLocks.deleteAtSubscriptionLevel("freeze-all");
  await rgs.resourceGroups.createOrUpdate("newRG", { location: "westus" });
  step("ReadOnly on the subscription, lifted");

  // Deleting the locks lifts them.
  await locks.managementLocks.deleteByScope(pol.id, "pol-ro");
  await bk.protectionPolicies.createOrUpdate("v1", RG, "daily", pol);
  await locks.managementLocks.deleteAtResourceLevel(OTHER, "Microsoft.Compute", "", "disks", "d2", "frozen");
  await lro(c.disks, "update", OTHER, "d2", { tags: { a: "b" } });
  await locks.managementLocks.deleteAtResourceGroupLevel(RG, "keep");
  await rejects("deleted lock", locks.managementLocks.getAtResourceGroupLevel(RG, "keep"), 404, "LockNotFound");
  eq("no locks left", (await all(locks.managementLocks.listAtSubscriptionLevel())).length, 0);
  await lro(c.disks, "delete", RG, d1.name);
  await lro(rs.vaults, "delete", RG, vault.name);
  for (const rg of [RG, OTHER, "newRG"]) await lro(rgs.resourceGroups, "delete", rg);
  step("deleting the locks lifts them");
}

run(main, "locks done");
