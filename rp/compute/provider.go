// Package compute serves Microsoft.Compute over ARM (disks, snapshots,
// virtual machines, galleries, disk encryption sets, disk accesses and the
// platform image catalog), the disk data plane over SAS page-blob requests, and
// the NBD export, all on top of the compute domain service.
package compute

import (
	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/compute"
	"github.com/safehold/safehold/resource"
)

// Provider is the Microsoft.Compute resource provider.
type Provider struct {
	svc *compute.Service
	p   *resource.Platform
}

// New returns the ARM provider bound to svc.
func New(svc *compute.Service) *Provider { return &Provider{svc: svc} }

// Versions are the api-versions accepted for Microsoft.Compute: every one
// Azure published (rp/apiversions).
var Versions = arm.UnionVersions(arm.APIVersionsCompute)

// Register implements server.Provider.
func (pr *Provider) Register(rt *arm.Router, p *resource.Platform) error {
	pr.p = p
	rt.RegisterNamespace(arm.Namespace{Name: "Microsoft.Compute", AnyVersion: true, Versions: Versions})
	pr.registerOps(rt)
	pr.registerDisks(rt)
	pr.registerSnapshots(rt)
	pr.registerVMs(rt)
	pr.registerGalleries(rt)
	pr.registerDiskRefs(rt)
	pr.registerVMImages(rt)
	return nil
}
