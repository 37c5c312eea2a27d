// Package compute serves Microsoft.Compute over ARM (disks, snapshots,
// virtual machines), the disk data plane over SAS page-blob requests, and
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

// Versions are the api-versions accepted for Microsoft.Compute.
var Versions = []string{"2024-11-01", "2024-07-01", "2024-03-02", "2024-03-01", "2023-10-02", "2023-09-01", "2023-07-01", "2023-04-02", "2023-03-01",
	"2023-01-02", "2022-11-01", "2022-08-01", "2022-07-02", "2022-03-02", "2022-03-01", "2021-12-01", "2021-11-01", "2021-08-01", "2021-07-01",
	"2021-04-01", "2021-03-01", "2020-12-01", "2020-09-30", "2020-06-30", "2020-06-01", "2019-12-01", "2019-07-01", "2019-03-01", "2018-10-01",
	"2018-09-30", "2018-06-01", "2018-04-01", "2017-12-01", "2017-03-30", "2016-04-30-preview"}

// Register implements server.Provider.
func (pr *Provider) Register(rt *arm.Router, p *resource.Platform) error {
	pr.p = p
	rt.RegisterNamespace(arm.Namespace{Name: "Microsoft.Compute", AnyVersion: true, Versions: Versions})
	pr.registerOps(rt)
	pr.registerDisks(rt)
	pr.registerSnapshots(rt)
	pr.registerVMs(rt)
	return nil
}
