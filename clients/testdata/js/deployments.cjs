// ARM template deployments through @azure/arm-resources 5's deployments
// and deploymentOperations, as a JS user deploys a group's disks: validate,
// what-if, create (a copy loop of disks, a secure parameter and output),
// get, list, the operations, exportTemplate, a second deployment's what-if
// against what the first made, bad input (400 with a code, details a list),
// and the delete of the record. Run by clients/clients_test.go with
// SAFEHOLD_CONNECTION (connection.json) and NODE_EXTRA_CA_CERTS (Safehold's
// CA); prints "ok" steps, exits 1 on failure.
"use strict";
const { sub, credential, clientOptions, step, fail, all, run, eq, rejects, lro } = require("./lib.cjs");
const { ResourceManagementClient } = require("@azure/arm-resources");

const RG = "deployJS";
const SECRET = "js-s3cret-value";

function template(sizeGB) {
  return {
    $schema: "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
    contentVersion: "1.0.0.0",
    parameters: { count: { type: "int", defaultValue: 2 }, key: { type: "securestring" } },
    resources: [{
      type: "Microsoft.Compute/disks", apiVersion: "2023-04-02", name: "[concat('jsdisk', copyIndex())]", location: "westus",
      copy: { name: "disks", count: "[parameters('count')]" },
      properties: { creationData: { createOption: "Empty" }, diskSizeGB: sizeGB },
    }],
    outputs: { first: { type: "string", value: "jsdisk0" }, key: { type: "securestring", value: "[parameters('key')]" } },
  };
}
const deployment = (sizeGB) => ({ properties: { mode: "Incremental", template: template(sizeGB), parameters: { key: { value: SECRET } } } });

async function main() {
  const rm = new ResourceManagementClient(credential(), sub, clientOptions);
  await rm.resourceGroups.createOrUpdate(RG, { location: "westus" });

  const v = await lro(rm.deployments, "validate", RG, "d1", deployment(1));
  eq("validate", v.properties.provisioningState, "Succeeded");
  eq("validated resources", v.properties.validatedResources.length, 2);
  const wi = await lro(rm.deployments, "whatIf", RG, "d1", deployment(1));
  eq("what-if", wi.changes.map((c) => c.changeType).join(","), "Create,Create");
  step("validate and what-if");

  const d = await lro(rm.deployments, "createOrUpdate", RG, "d1", deployment(1));
  eq("deployment", d.properties.provisioningState, "Succeeded");
  eq("output", d.properties.outputs.first.value, "jsdisk0");
  eq("secure output", JSON.stringify(d.properties.outputs.key), JSON.stringify({ type: "SecureString" }));
  if (JSON.stringify(d).includes(SECRET)) fail("the deployment answers the secure value");
  const got = await rm.deployments.get(RG, "d1");
  eq("get", got.properties.parameters.key.value, undefined);
  eq("listed", (await all(rm.deployments.listByResourceGroup(RG))).map((x) => x.name).join(","), "d1");
  const ops = await all(rm.deploymentOperations.list(RG, "d1"));
  eq("operations", ops.map((o) => o.properties.provisioningState).join(","), "Succeeded,Succeeded");
  eq("exported", (await rm.deployments.exportTemplate(RG, "d1")).template.resources[0].type, "Microsoft.Compute/disks");
  step("create, get, list, operations, export");

  const wi2 = await lro(rm.deployments, "whatIf", RG, "d2", deployment(2));
  eq("what-if of a grown disk", wi2.changes.map((c) => c.changeType).join(","), "Modify,Modify");
  // (The SDK's model reads a delta's before and after as objects: a number
  // comes out {}, from Azure's answers as from Safehold's.)
  eq("its delta", wi2.changes[0].delta.map((p) => `${p.path}:${p.propertyChangeType}`).join(","), "properties.diskSizeGB:Modify");
  step("what-if against what was deployed");

  const bad = await rejects("a missing parameter", lro(rm.deployments, "createOrUpdate", RG, "d3", { properties: { mode: "Complete", template: template(1) } }), 400, "InvalidTemplate");
  if (!Array.isArray(bad.details.error.details)) fail("details not a list: " + JSON.stringify(bad.details));
  await rejects("a missing group", lro(rm.deployments, "createOrUpdate", "noSuchRG", "d1", deployment(1)), 404, "ResourceGroupNotFound");
  await rejects("a missing deployment", rm.deployments.get(RG, "nope"), 404, "DeploymentNotFound");
  step("bad input refused");

  await lro(rm.deployments, "delete", RG, "d1");
  eq("after delete", (await all(rm.deployments.listByResourceGroup(RG))).length, 0);
  step("delete");
}

run(main, "deployments done");
