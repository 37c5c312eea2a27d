// Package storage serves a minimal Microsoft.Storage: storage accounts as
// ARM resources with access keys, which Azure's backup APIs take as staging
// accounts (Recovery Services RestoreDisks writes its VM config there;
// az backup restore restore-disks looks the account up by name), and their
// blob service (BlobHandler, at primaryEndpoints.blob), whose blobs disks
// and snapshots import (createOption Import).
package storage

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"github.com/safehold/safehold/accountblob"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/resource"
	"github.com/safehold/safehold/store"
)

const (
	namespace   = "Microsoft.Storage"
	accountType = "Microsoft.Storage/storageAccounts"
)

// Provider serves Microsoft.Storage.
type Provider struct {
	p *resource.Platform
	// Blobs are the accounts' blobs (served by BlobHandler); nil: no blob
	// data plane (tests of the ARM face alone).
	Blobs *accountblob.Service
}

// Register implements resource.Provider.
func (pr *Provider) Register(rt *arm.Router, p *resource.Platform) error {
	pr.p = p
	p.OnDelete(accountType, 0, pr.deleteBlobs)
	rt.RegisterNamespace(arm.Namespace{Name: namespace, Versions: arm.UnionVersions(arm.APIVersionsStorage)})
	sub := "/subscriptions/{subscriptionId}"
	rg := sub + "/resourceGroups/{resourceGroupName}"
	A := rg + "/providers/Microsoft.Storage/storageAccounts/{accountName}"
	rt.Handle("GET", sub+"/providers/Microsoft.Storage/storageAccounts", withAccountType(pr.listSub))
	rt.Handle("POST", sub+"/providers/Microsoft.Storage/checkNameAvailability", pr.checkName, arm.Action(namespace+"/checkNameAvailability/read"))
	rt.HandleResource(A, arm.Methods{List: withAccountType(pr.listRG), Get: withAccountType(pr.get), Put: withAccountType(pr.put), Patch: withAccountType(pr.patch), Delete: pr.delete})
	rt.Handle("POST", A+"/listKeys", pr.listKeys)
	rt.Handle("POST", A+"/regenerateKey", pr.regenerateKey)
	rt.Handle("GET", "/providers/Microsoft.Storage/operations", rt.OperationsCatalog(namespace, "Microsoft Storage"), arm.NoAuthz())
	return nil
}

// Account is a storage account as stored; Keys never leave through GET.
type Account struct {
	arm.TrackedResource
	Kind       string            `json:"kind"`
	SKU        map[string]string `json:"sku"`
	Properties map[string]any    `json:"properties"`
	SystemData *arm.SystemData   `json:"systemData,omitempty"`
	Keys       []Key             `json:"keys,omitempty"`
}

// Key is an account access key.
type Key struct {
	KeyName      string    `json:"keyName"`
	Value        string    `json:"value"`
	Permissions  string    `json:"permissions"`
	CreationTime time.Time `json:"creationTime"`
}

func (a Account) wire() Account {
	a.Keys = nil
	return a
}

var nameRE = regexp.MustCompile(`^[a-z0-9]{3,24}$`)

func newKey(name string, now time.Time) Key {
	b := make([]byte, 64)
	rand.Read(b)
	return Key{KeyName: name, Value: base64.StdEncoding.EncodeToString(b), Permissions: "FULL", CreationTime: now}
}

var skus = map[string]string{"standard_lrs": "Standard_LRS", "standard_grs": "Standard_GRS", "standard_ragrs": "Standard_RAGRS", "standard_zrs": "Standard_ZRS",
	"premium_lrs": "Premium_LRS", "premium_zrs": "Premium_ZRS", "standard_gzrs": "Standard_GZRS", "standard_ragzrs": "Standard_RAGZRS"}

var kinds = map[string]string{"storagev2": "StorageV2", "storage": "Storage", "blobstorage": "BlobStorage", "blockblobstorage": "BlockBlobStorage", "filestorage": "FileStorage"}

// skuOf is the sku named name (any case), as an account keeps it; a 400
// when Azure has no such sku.
func skuOf(name string) (map[string]string, error) {
	sku, ok := skus[strings.ToLower(name)]
	if !ok {
		return nil, arm.BadRequest("InvalidValuesForRequestParameters", "Values for request parameters are invalid: sku.name '%s'.", name)
	}
	tier := "Standard"
	if strings.HasPrefix(sku, "Premium") {
		tier = "Premium"
	}
	return map[string]string{"name": sku, "tier": tier}, nil
}

// kindOf is the kind named k (any case; "" for none); a 400 when Azure
// has no such kind.
func kindOf(k string) (string, error) {
	if k == "" {
		return "", nil
	}
	kind, ok := kinds[strings.ToLower(k)]
	if !ok {
		return "", arm.BadRequest("InvalidValuesForRequestParameters", "Values for request parameters are invalid: kind '%s'.", k)
	}
	return kind, nil
}

// changeSKU is a PATCH's change of a's sku to sku, as Azure allows it:
// between the redundancies of its tier (Standard_LRS to Standard_GRS...),
// neither to the other tier nor into or out of zone redundancy, which
// take a new account (or Azure's conversion) instead.
func changeSKU(a *Account, sku map[string]string) error {
	from, to := a.SKU["name"], sku["name"]
	zonal := func(s string) bool { return strings.Contains(s, "ZRS") }
	if a.SKU["tier"] != sku["tier"] || zonal(from) != zonal(to) {
		return arm.BadRequest("InvalidAccountType", "The storage account '%s' cannot change its sku from %s to %s: an update changes the redundancy within the tier and zone redundancy (LRS, GRS, RAGRS among themselves; ZRS, GZRS, RAGZRS among themselves), not the tier. Create a new account with sku %s and copy the data.", a.Name, from, to, to)
	}
	a.SKU = sku
	return nil
}

// changeKind is a PATCH's change of a's kind to kind: only the upgrade of
// a general purpose v1 (Storage) or BlobStorage account to StorageV2, as
// in Azure.
func changeKind(a *Account, kind string) error {
	if kind == "" || kind == a.Kind {
		return nil
	}
	if kind != "StorageV2" || (a.Kind != "Storage" && a.Kind != "BlobStorage") {
		return arm.BadRequest("InvalidValuesForRequestParameters", "The storage account '%s' of kind %s cannot change its kind to %s: only Storage and BlobStorage accounts upgrade, to StorageV2.", a.Name, a.Kind, kind)
	}
	a.Kind = kind
	if _, ok := a.Properties["accessTier"]; !ok {
		a.Properties["accessTier"] = "Hot" // a StorageV2 account has one
	}
	return nil
}

func (pr *Provider) idOf(r *arm.Request) arm.ResourceID {
	return arm.NewID(r.Param("subscriptionId"), r.Param("resourceGroupName"), namespace, "storageAccounts", r.Param("accountName"))
}

func (pr *Provider) put(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	id := pr.idOf(r)
	name := r.Param("accountName")
	if !nameRE.MatchString(name) {
		return nil, arm.BadRequest("AccountNameInvalid", "%s is not a valid storage account name. Storage account name must be between 3 and 24 characters in length and use numbers and lower-case letters only.", name)
	}
	if err := resource.CheckResourceGroup(ctx, pr.p.Store, id.SubscriptionID, id.ResourceGroup); err != nil {
		return nil, err
	}
	var in struct {
		Location   string                 `json:"location"`
		Tags       map[string]string      `json:"tags"`
		Kind       string                 `json:"kind"`
		SKU        *struct{ Name string } `json:"sku"`
		Properties map[string]any         `json:"properties"`
	}
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	if err := r.CheckLinked(propertyLinks(in.Properties)...); err != nil {
		return nil, err
	}
	loc := resource.NormLocation(in.Location)
	if loc == "" {
		return nil, arm.BadRequest("LocationRequired", "The location property is required for this definition.")
	}
	if err := resource.CheckLocation(in.Location, accountType); err != nil {
		return nil, err
	}
	if in.SKU == nil || in.SKU.Name == "" {
		return nil, arm.BadRequest("MissingRequiredProperty", "sku.name is required, e.g. {\"sku\":{\"name\":\"Standard_LRS\"}}.")
	}
	sku, err := skuOf(in.SKU.Name)
	if err != nil {
		return nil, err
	}
	kind, err := kindOf(in.Kind) // none sent: the account's own, or for a new one by api-version (newKind)
	if err != nil {
		return nil, err
	}
	now := pr.p.Now().UTC()
	return pr.save(r, id, now, func(tx store.Tx) (*Account, error) {
		var cur Account
		err := resource.Get(ctx, tx, id, &cur)
		if err != nil && !arm.IsNotFound(err) {
			return nil, err
		}
		if err == nil && !strings.EqualFold(cur.Location, loc) {
			return nil, arm.Errorf(http.StatusConflict, "StorageAccountAlreadyExists", "The storage account named %s already exists under the subscription in location '%s'.", name, cur.Location)
		}
		if err != nil {
			if taken, err := pr.nameTaken(ctx, tx, name); err != nil {
				return nil, err
			} else if taken {
				return nil, arm.Errorf(http.StatusConflict, "StorageAccountAlreadyTaken", "The storage account named %s is already taken.", name)
			}
			cur = Account{TrackedResource: arm.TrackedResource{ID: id.String(), Name: name, Type: accountType}, Keys: []Key{newKey("key1", now), newKey("key2", now)}}
			cur.Properties = map[string]any{"creationTime": now.Format(time.RFC3339Nano)}
		}
		if kind == "" {
			kind = cur.Kind
		}
		if kind == "" {
			kind = newKind(r.APIVersion)
		}
		cur.Location, cur.Tags, cur.Kind, cur.SKU = loc, in.Tags, kind, sku
		setProperties(cur.Properties, in.Properties, true)
		fill(&cur)
		// Where Safehold serves the account's blobs (Azure's suffix in a
		// sourceUri resolves to it too).
		cur.Properties["primaryEndpoints"].(map[string]any)["blob"] = r.BaseURL() + BlobPrefix + name + "/"
		return &cur, nil
	})
}

// propertyLinks are the links of an account's properties (Azure's linked
// access check): the subnets its network rules let in (joined through
// their service endpoint) and the user-assigned identity its encryption
// uses (assigned).
func propertyLinks(p map[string]any) []arm.Link {
	var links []arm.Link
	acls, _ := p["networkAcls"].(map[string]any)
	rules, _ := acls["virtualNetworkRules"].([]any)
	for _, rule := range rules {
		if m, ok := rule.(map[string]any); ok {
			if id, ok := m["id"].(string); ok {
				links = append(links, arm.LinkTo("Microsoft.Network/virtualNetworks/subnets/joinViaServiceEndpoint/action", id))
			}
		}
	}
	enc, _ := p["encryption"].(map[string]any)
	ei, _ := enc["identity"].(map[string]any)
	if id, ok := ei["userAssignedIdentity"].(string); ok {
		links = append(links, arm.LinkTo(resource.AssignIdentity, id))
	}
	return links
}

// setProperties copies into dst the properties of in that a request may
// set: those a PATCH may change and, on PUT, those fixed at creation too.
func setProperties(dst, in map[string]any, put bool) {
	for k, v := range in {
		switch k {
		case "accessTier", "supportsHttpsTrafficOnly", "minimumTlsVersion", "allowBlobPublicAccess", "allowSharedKeyAccess", "networkAcls", "publicNetworkAccess":
			dst[k] = v
		case "isHnsEnabled", "encryption":
			if put {
				dst[k] = v
			}
		}
	}
}

// save stores the account that change returns (read and changed in the
// same transaction), touched by the caller at now, and answers it.
func (pr *Provider) save(r *arm.Request, id arm.ResourceID, now time.Time, change func(tx store.Tx) (*Account, error)) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	var out *Account
	err := pr.p.Store.Update(ctx, func(tx store.Tx) error {
		a, err := change(tx)
		if err != nil {
			return err
		}
		a.SystemData = arm.Touch(a.SystemData, r.Caller(), now)
		out = a
		return resource.Put(ctx, tx, id, a)
	})
	if err != nil {
		return nil, err
	}
	return arm.OK(out.wire()), nil
}

func fill(a *Account) {
	p := a.Properties
	p["provisioningState"] = "Succeeded"
	p["primaryLocation"] = a.Location
	p["statusOfPrimary"] = "available"
	for k, v := range map[string]any{"supportsHttpsTrafficOnly": true, "minimumTlsVersion": "TLS1_2", "allowBlobPublicAccess": false, "encryption": map[string]any{
		"keySource": "Microsoft.Storage", "services": map[string]any{"blob": map[string]any{"enabled": true, "keyType": "Account"}, "file": map[string]any{"enabled": true, "keyType": "Account"}}}} {
		if _, ok := p[k]; !ok {
			p[k] = v
		}
	}
	if a.Kind == "StorageV2" || a.Kind == "BlobStorage" {
		if _, ok := p["accessTier"]; !ok {
			p["accessTier"] = "Hot"
		}
	}
	base := "https://" + a.Name + "."
	p["primaryEndpoints"] = map[string]any{"blob": base + "blob.core.windows.net/", "queue": base + "queue.core.windows.net/", "table": base + "table.core.windows.net/", "file": base + "file.core.windows.net/", "dfs": base + "dfs.core.windows.net/", "web": base + "z1.web.core.windows.net/"}
}

func (pr *Provider) nameTaken(ctx context.Context, rd store.Reader, name string) (bool, error) {
	_, err := accountblob.FindAccount(ctx, rd, name)
	if arm.IsNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

// deleteBlobs deletes the containers and blobs of the account id names
// (with the account, or its resource group).
func (pr *Provider) deleteBlobs(ctx context.Context, id string) error {
	if pr.Blobs == nil {
		return nil
	}
	rid, err := arm.ParseID(id)
	if err != nil {
		return err
	}
	var a Account
	if err := resource.Get(ctx, pr.p.Store, rid, &a); err != nil {
		if arm.IsNotFound(err) {
			return nil // names are global: never another subscription's blobs
		}
		return err
	}
	return pr.Blobs.DeleteAccount(ctx, a.Name)
}

func (pr *Provider) load(r *arm.Request) (arm.ResourceID, *Account, error) {
	id := pr.idOf(r)
	var a Account
	if err := resource.Get(r.HTTP.Context(), pr.p.Store, id, &a); err != nil {
		return id, nil, err
	}
	return id, &a, nil
}

func (pr *Provider) get(r *arm.Request) (*arm.Response, error) {
	_, a, err := pr.load(r)
	if err != nil {
		return nil, err
	}
	return arm.OK(a.wire()), nil
}

func (pr *Provider) patch(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	id := pr.idOf(r)
	var in struct {
		Tags       map[string]string      `json:"tags"`
		Kind       string                 `json:"kind"`
		SKU        *struct{ Name string } `json:"sku"`
		Properties map[string]any         `json:"properties"`
	}
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	var sku map[string]string
	if in.SKU != nil {
		var err error
		if sku, err = skuOf(in.SKU.Name); err != nil {
			return nil, err
		}
	}
	kind, err := kindOf(in.Kind)
	if err != nil {
		return nil, err
	}
	if err := r.CheckLinked(propertyLinks(in.Properties)...); err != nil {
		return nil, err
	}
	return pr.save(r, id, pr.p.Now().UTC(), func(tx store.Tx) (*Account, error) {
		var a Account
		if err := resource.Get(ctx, tx, id, &a); err != nil {
			return nil, err
		}
		if in.Tags != nil {
			a.Tags = in.Tags
		}
		if sku != nil {
			if err := changeSKU(&a, sku); err != nil {
				return nil, err
			}
		}
		if err := changeKind(&a, kind); err != nil {
			return nil, err
		}
		setProperties(a.Properties, in.Properties, false)
		return &a, nil
	})
}

func (pr *Provider) delete(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	id := pr.idOf(r)
	if err := pr.deleteBlobs(ctx, id.String()); err != nil {
		return nil, err
	}
	err := pr.p.Store.Update(ctx, func(tx store.Tx) error { return resource.Delete(ctx, tx, id) })
	if arm.IsNotFound(err) {
		return arm.NoContent(), nil
	}
	if err != nil {
		return nil, err
	}
	return &arm.Response{Status: http.StatusOK}, nil
}

func (pr *Provider) list(r *arm.Request, scope string) (*arm.Response, error) {
	out, err := resource.ListAs(r.HTTP.Context(), pr.p.Store, accountType, scope, (*Account).wire)
	if err != nil {
		return nil, err
	}
	return arm.PageOK(r, out, 1000)
}

func (pr *Provider) listSub(r *arm.Request) (*arm.Response, error) {
	if err := resource.CheckSubscription(r.HTTP.Context(), pr.p.Store, r.Param("subscriptionId")); err != nil {
		return nil, err
	}
	return pr.list(r, "/subscriptions/"+r.Param("subscriptionId"))
}

func (pr *Provider) listRG(r *arm.Request) (*arm.Response, error) {
	if err := resource.CheckResourceGroup(r.HTTP.Context(), pr.p.Store, r.Param("subscriptionId"), r.Param("resourceGroupName")); err != nil {
		return nil, err
	}
	return pr.list(r, "/subscriptions/"+r.Param("subscriptionId")+"/resourceGroups/"+r.Param("resourceGroupName"))
}

func (pr *Provider) listKeys(r *arm.Request) (*arm.Response, error) {
	_, a, err := pr.load(r)
	if err != nil {
		return nil, err
	}
	return keysAnswer(r, a.Keys), nil
}

func (pr *Provider) regenerateKey(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	id := pr.idOf(r)
	var in struct {
		KeyName string `json:"keyName"`
	}
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	var out Account
	err := pr.p.Store.Update(ctx, func(tx store.Tx) error {
		if err := resource.Get(ctx, tx, id, &out); err != nil {
			return err
		}
		for i, k := range out.Keys {
			if strings.EqualFold(k.KeyName, in.KeyName) {
				out.Keys[i] = newKey(k.KeyName, pr.p.Now().UTC())
				return resource.Put(ctx, tx, id, &out)
			}
		}
		return arm.BadRequest("InvalidValuesForRequestParameters", "keyName '%s' is invalid: use key1 or key2.", in.KeyName)
	})
	if err != nil {
		return nil, err
	}
	return keysAnswer(r, out.Keys), nil
}

func (pr *Provider) checkName(r *arm.Request) (*arm.Response, error) {
	var in struct{ Name, Type string }
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	invalid := ""
	if !nameRE.MatchString(in.Name) {
		invalid = in.Name + " is not a valid storage account name. Storage account name must be between 3 and 24 characters in length and use numbers and lower-case letters only."
	}
	return arm.CheckName("AccountNameInvalid", invalid, func() (bool, error) { return pr.nameTaken(r.HTTP.Context(), pr.p.Store, in.Name) },
		"The storage account named "+in.Name+" is already taken.")
}
