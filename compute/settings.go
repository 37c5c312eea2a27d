package compute

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"

	"github.com/safehold/safehold/failure"
	"github.com/safehold/safehold/resource"
	"github.com/safehold/safehold/store"
)

// Settings are writable properties of a disk or snapshot that Azure stores
// and returns but Safehold does not act on (encryption settings, network
// access, bursting, performance tier, purchase plan, ...), by JSON name. They
// are kept as sent and returned inside "properties"; a property Safehold
// models (networkAccessPolicy, encryption, tier, osType) is set in its field.
type Settings map[string]json.RawMessage

// withSettings adds s to the JSON object b (a later object value is merged
// into an object already there, key by key).
func withSettings(b []byte, s Settings) ([]byte, error) {
	if len(s) == 0 {
		return b, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	mergeInto(m, s)
	return json.Marshal(m)
}

// mergeInto applies s to m: null deletes, an object merges into an object,
// anything else replaces.
func mergeInto(m map[string]json.RawMessage, s Settings) {
	for k, v := range s {
		if bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			delete(m, k)
			continue
		}
		var old, nv map[string]json.RawMessage
		if json.Unmarshal(m[k], &old) == nil && old != nil && json.Unmarshal(v, &nv) == nil && nv != nil {
			for nk, x := range nv {
				old[nk] = x
			}
			v, _ = json.Marshal(old)
		}
		m[k] = v
	}
}

// unknownKeys are the keys of the JSON object b that no field of struct type t names.
func unknownKeys(b []byte, t reflect.Type) Settings {
	var m map[string]json.RawMessage
	if json.Unmarshal(b, &m) != nil {
		return nil
	}
	dropFields(m, t)
	if len(m) == 0 {
		return nil
	}
	return m
}

// dropFields deletes from m the keys the fields of struct type t name
// (those of an embedded struct too).
func dropFields(m map[string]json.RawMessage, t reflect.Type) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			dropFields(m, f.Type)
			continue
		}
		delete(m, name)
	}
}

// The properties without their JSON methods: what the methods below encode
// and decode, the settings aside.
type (
	plainDiskProperties     DiskProperties
	plainSnapshotProperties SnapshotProperties
)

// MarshalJSON writes the properties with their settings.
func (p DiskProperties) MarshalJSON() ([]byte, error) {
	return marshalWithSettings(plainDiskProperties(p), p.Settings)
}

// UnmarshalJSON reads the properties; keys no field names are settings.
func (p *DiskProperties) UnmarshalJSON(b []byte) error {
	return unmarshalWithSettings(b, (*plainDiskProperties)(p), &p.Settings)
}

// MarshalJSON writes the properties with their settings.
func (p SnapshotProperties) MarshalJSON() ([]byte, error) {
	p.SnapshotAccessState = "Available"
	if p.ProvisioningState != "Succeeded" {
		p.SnapshotAccessState = "Pending"
	}
	return marshalWithSettings(plainSnapshotProperties(p), p.Settings)
}

// UnmarshalJSON reads the properties; keys no field names are settings.
func (p *SnapshotProperties) UnmarshalJSON(b []byte) error {
	return unmarshalWithSettings(b, (*plainSnapshotProperties)(p), &p.Settings)
}

// marshalWithSettings writes plain (properties as a type without JSON
// methods) with the settings s merged into the object.
func marshalWithSettings[P any](plain P, s Settings) ([]byte, error) {
	b, err := json.Marshal(plain)
	if err != nil {
		return nil, err
	}
	return withSettings(b, s)
}

// unmarshalWithSettings reads b into plain (properties as a type without
// JSON methods) and sets *s to the keys no field of it names.
func unmarshalWithSettings[P any](b []byte, plain *P, s *Settings) error {
	if err := json.Unmarshal(b, plain); err != nil {
		return err
	}
	*s = unknownKeys(b, reflect.TypeOf(*plain))
	return nil
}

// applySettings merges s into the properties object *props.
func applySettings[P any](props *P, s Settings) error {
	b, err := json.Marshal(props)
	if err != nil {
		return err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	mergeInto(m, s)
	if b, err = json.Marshal(m); err != nil {
		return err
	}
	var fresh P
	if err := json.Unmarshal(b, &fresh); err != nil {
		return badSetting(err, reflect.TypeOf(fresh))
	}
	*props = fresh
	return nil
}

// CheckSettings refuses settings the properties of a disk (or, snapshot
// true, of a snapshot) cannot hold, before anything is written: a property
// Safehold models given a value of another type (encryption as a number,
// publicNetworkAccess as a number) is 400 InvalidParameter naming it.
func CheckSettings(s Settings, snapshot bool) error {
	if len(s) == 0 {
		return nil
	}
	if snapshot {
		return applySettings(&SnapshotProperties{}, s)
	}
	return applySettings(&DiskProperties{}, s)
}

// badSetting is the failure of properties (of Go type t) that do not
// decode: a value of the wrong JSON type is named by its JSON path in the
// request, with the JSON value it takes (never the Go field or type).
func badSetting(err error, t reflect.Type) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		path, want, got := failure.TypeMismatch(t, te)
		e := failure.Invalidf("InvalidParameter", "The value of 'properties.%s' must be %s, not %s.", path, want, got)
		e.Target = "properties." + path
		return e
	}
	return failure.Invalidf("InvalidParameter", "properties: %v", err)
}

// UpdateSettings merges settings into a disk's or snapshot's properties
// (see Settings) and, for a disk, sets its extendedLocation when given.
func (s *Service) UpdateSettings(ctx context.Context, id string, settings Settings, extendedLocation json.RawMessage) (any, error) {
	if rid, err := parseTyped(id, SnapshotType); err == nil {
		return updateDoc(ctx, s.p.Store, rid, func(tx store.Tx, sn *SnapshotResource) error {
			return applySettings(&sn.Properties, settings)
		})
	}
	rid, err := parseTyped(id, DiskType)
	if err != nil {
		return nil, err
	}
	return updateDoc(ctx, s.p.Store, rid, func(tx store.Tx, d *DiskResource) error {
		if e := bytes.TrimSpace(extendedLocation); len(e) > 0 && !bytes.Equal(e, []byte("null")) && !sameJSON(e, d.ExtendedLocation) {
			if len(d.ExtendedLocation) == 0 {
				return resource.CheckExtendedLocation(d.Location, DiskType, e)
			}
			return failure.Conflictf("PropertyChangeNotAllowed", "Changing property 'extendedLocation' of disk '%s' is not allowed: a disk stays where it was created.", d.Name)
		}
		old := *d
		if err := applySettings(&d.Properties, settings); err != nil {
			return err
		}
		// maxShares and tier are checked against the disk as it is now.
		now := s.now()
		if err := checkDiskSettings(ctx, tx, &old, d, settings, now); err != nil {
			return err
		}
		d.setAttached(d.AttachedVMs())
		d.settleTier()
		if settingString(settings, "tier") != "" && !strings.EqualFold(old.Properties.Tier, d.Properties.Tier) {
			// When the tier changed: a downgrade waits TierDowngradeWait.
			st, err := getState(ctx, tx, d.ID)
			if err != nil {
				return err
			}
			st.TierChanged = &now
			return putState(ctx, tx, d.ID, st)
		}
		return nil
	})
}

// sameJSON reports whether a and b are the same JSON value.
func sameJSON(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}
