package compute

import (
	"context"
	"strings"

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
