package compute

import (
	"context"
	"strings"

	"github.com/safehold/safehold/failure"
	"github.com/safehold/safehold/store"
)

// Network is Microsoft.Network as a VM needs it: the network interfaces
// its networkProfile names. The server sets it (SetNetwork) to the network
// provider; without one a VM's networkProfile is kept as given.
type Network interface {
	// UseNICs makes, in tx, the VM vmID (in location) the user of the
	// network interfaces nics (each must exist in location and be no other
	// VM's: a 400 naming it otherwise) and releases those of released.
	UseNICs(ctx context.Context, tx store.Tx, vmID, location string, nics, released []string) error
	// DropNICs releases, in tx, the network interfaces released of the VM
	// vmID (being deleted) and deletes those of deleted (deleteOption
	// Delete).
	DropNICs(ctx context.Context, tx store.Tx, vmID string, released, deleted []string) error
	// CreateNIC creates, in tx, the network interface nicID in location
	// with one ip configuration taking a free address of the subnet
	// subnetID, tagged tags: a 400 when the subnet is not there (or its
	// network is in another location), a 409 when nicID exists.
	CreateNIC(ctx context.Context, tx store.Tx, nicID, location, subnetID string, tags map[string]string) error
	// SubnetLocation is the location of the virtual network of the subnet
	// subnetID, read in r: a NotFound error when the network or the
	// subnet is not there.
	SubnetLocation(ctx context.Context, r store.Reader, subnetID string) (string, error)
}

// NewNIC is a network interface a new VM is created with (VMSpec.NewNICs):
// made in the VM's transaction in its location, its deleteOption Delete.
type NewNIC struct {
	ID, SubnetID string
}

// SubnetLocation is Network.SubnetLocation as stored: a 400 when no
// network is served.
func (s *Service) SubnetLocation(ctx context.Context, subnetID string) (string, error) {
	if s.network == nil {
		return "", failure.Invalidf("InvalidParameter", "No virtual networks are served here: leave out the subnet '%s'.", subnetID)
	}
	return s.network.SubnetLocation(ctx, s.p.Store, subnetID)
}

// withNewNICs creates, in tx, the network interfaces of a new VM (spec's
// NewNICs) and answers profile with them listed after those it names,
// each deleteOption Delete (the first interface listed is the primary).
func (s *Service) withNewNICs(ctx context.Context, tx store.Tx, spec *VMSpec, location string, profile map[string]any) (map[string]any, error) {
	if len(spec.NewNICs) == 0 {
		return profile, nil
	}
	if s.network == nil {
		return nil, failure.Invalidf("InvalidParameter", "No virtual networks are served here: a VM cannot be given a network interface.")
	}
	out := make(map[string]any, len(profile)+1)
	for k, v := range profile {
		out[k] = v
	}
	list, _ := profile["networkInterfaces"].([]any)
	list = append([]any(nil), list...)
	for _, n := range spec.NewNICs {
		if err := s.network.CreateNIC(ctx, tx, n.ID, location, n.SubnetID, spec.Tags); err != nil {
			return nil, err
		}
		list = append(list, map[string]any{"id": n.ID, "properties": map[string]any{"primary": len(list) == 0, "deleteOption": "Delete"}})
	}
	out["networkInterfaces"] = list
	return out, nil
}

// SetNetwork sets the network the VMs' network interfaces are checked
// against and marked used in (see Network).
func (s *Service) SetNetwork(n Network) { s.network = n }

// nicRef is one network interface a VM's networkProfile names.
type nicRef struct {
	id           string
	deleteOption string
}

// nicRefs are the network interfaces of a networkProfile, in order, each
// id once.
func nicRefs(profile map[string]any) []nicRef {
	list, _ := profile["networkInterfaces"].([]any)
	var out []nicRef
	seen := map[string]bool{}
	for _, v := range list {
		m, _ := v.(map[string]any)
		id, _ := m["id"].(string)
		if id == "" || seen[strings.ToLower(id)] {
			continue
		}
		seen[strings.ToLower(id)] = true
		props, _ := m["properties"].(map[string]any)
		del, _ := props["deleteOption"].(string)
		out = append(out, nicRef{id: id, deleteOption: del})
	}
	return out
}

// nicIDs are the ids of refs.
func nicIDs(refs []nicRef) []string {
	out := make([]string, 0, len(refs))
	for _, r := range refs {
		out = append(out, r.id)
	}
	return out
}

// releasedNICs are the ids of old that now does not name.
func releasedNICs(old, now []nicRef) []string {
	keep := map[string]bool{}
	for _, r := range now {
		keep[strings.ToLower(r.id)] = true
	}
	var out []string
	for _, r := range old {
		if !keep[strings.ToLower(r.id)] {
			out = append(out, r.id)
		}
	}
	return out
}
