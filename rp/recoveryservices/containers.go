package recoveryservices

import (
	"net/http"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/resource"
)

// registerContainerOps serves what the SDKs offer around protection
// containers beyond reading them: the containers of storage accounts and
// workloads one registers (protectableContainers, register, unregister,
// inquire, workload items). Safehold protects Azure VMs, whose container
// comes with the protection of the VM and goes with its backup data, so
// there is never such a container to register: the lists are empty, the
// register and inquire are 400 saying so, and unregister removes nothing
// (a VM's container while the VM is protected is 400, as in Azure). F is
// the fabric path pattern, C the container's.
func (pr *Provider) registerContainerOps(rt *arm.Router, F, C string) {
	rt.Handle("GET", F+"/protectableContainers", pr.listProtectableContainers)
	rt.Handle("PUT", C, pr.registerContainer)
	rt.Handle("DELETE", C, on(pr.itemPathOf, pr.unregisterContainer))
	rt.Handle("POST", C+"/inquire", on(pr.itemPathOf, pr.inquireContainer))
	rt.Handle("GET", C+"/items", on(pr.itemPathOf, pr.listWorkloadItems))
}

// listProtectableContainers lists the containers of a fabric not yet
// registered to the vault (storage accounts, VMs with workloads): none.
func (pr *Provider) listProtectableContainers(r *arm.Request) (*arm.Response, error) {
	_, f, err := pr.vaultFilter(r, "backupManagementType", "workloadType", "friendlyName", "status", "fabricName")
	if err != nil {
		return nil, err
	}
	if err := checkFabric(r); err != nil {
		return nil, err
	}
	if err := checkFilterEnum("backupManagementType", f["backupmanagementtype"], jobManagementTypes); err != nil {
		return nil, err
	}
	return arm.OK(arm.Values([]any{})), nil
}

func (pr *Provider) registerContainer(r *arm.Request) (*arm.Response, error) {
	if _, _, err := pr.vaultOf(r); err != nil {
		return nil, err
	}
	if err := checkFabric(r); err != nil {
		return nil, err
	}
	return nil, arm.BadRequest("OperationNotSupported", "Registering container '%s' is not supported: Safehold backs up Azure VMs, whose container is registered by enabling protection of the VM (a PUT of its protected item 'VM;iaasvmcontainerv2;{resourceGroup};{vmName}' with a policyId); storage account and workload containers are not served.", r.Param("containerName"))
}

// unregisterContainer removes a container from the vault: a VM's goes when
// its backup data is deleted, so a container that exists has a protected
// item (400, as Azure answers while items are protected) and one that
// does not is already gone (204).
func (pr *Provider) unregisterContainer(r *arm.Request, at itemPath) (*arm.Response, error) {
	var c containerRecord
	if err := resource.Get(r.HTTP.Context(), pr.p.Store, at.id, &c); err != nil {
		if arm.IsNotFound(err) {
			return arm.NoContent(), nil
		}
		return nil, err
	}
	return nil, arm.BadRequest("BMSUserErrorContainerHasDatasources", "The container '%s' has a protected item: stop protection of the VM and delete its backup data (DELETE of the protected item); the container is removed with it.", c.Name)
}

func (pr *Provider) inquireContainer(r *arm.Request, at itemPath) (*arm.Response, error) {
	if _, err := pr.containerAt(r, at); err != nil {
		return nil, err
	}
	return nil, arm.BadRequest("OperationNotSupported", "Inquiry finds the workloads (SQL Server, SAP HANA databases) in a VM registered for workload backup; Safehold backs up whole VMs, and container '%s' has no workloads to inquire.", r.Param("containerName"))
}

// listWorkloadItems lists the workloads found in a container: a VM
// container has none.
func (pr *Provider) listWorkloadItems(r *arm.Request, at itemPath) (*arm.Response, error) {
	if _, err := pr.containerAt(r, at); err != nil {
		return nil, err
	}
	return arm.OK(arm.Values([]any{})), nil
}

// containerAt reads the container a request's path names: 404
// BMSUserErrorContainerNotFound when the vault has no such container.
func (pr *Provider) containerAt(r *arm.Request, at itemPath) (*containerRecord, error) {
	var c containerRecord
	if err := resource.Get(r.HTTP.Context(), pr.p.Store, at.id, &c); err != nil {
		if arm.IsNotFound(err) {
			return nil, arm.Errorf(http.StatusNotFound, "BMSUserErrorContainerNotFound", "The container '%s' is not registered in this vault: enable protection of its VM first.", r.Param("containerName"))
		}
		return nil, err
	}
	return &c, nil
}
