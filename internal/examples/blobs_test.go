package examples_test

import (
	"bytes"
	"regexp"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
)

// reBlobURI: a blob an example imports (a disk's sourceUri), by Azure's URL.
var reBlobURI = regexp.MustCompile(`https://([a-z0-9]{3,24})\.blob\.core\.windows\.net/([a-z0-9-]{3,63})/([^"?\s]+)`)

// vhdBlobs uploads, through Safehold's own blob service, the VHD blobs
// the examples import (by Azure's URL, which names Safehold's account of
// that name): the account (in the group of the example's
// storageAccountId, else of the example), its container, and a small
// fixed VHD with data in it.
func (p *prereqs) vhdBlobs(xs []*example) {
	type target struct{ rg, account, container, name string }
	var targets []target
	seen := map[string]bool{}
	for _, x := range xs {
		text := x.Body
		if x.seeded() || x.seededUpdate() {
			text += x.WantExpr
		}
		rg := x.Args["resourceGroupName"]
		if m := reStorage.FindStringSubmatch(text); m != nil {
			rg = m[1]
		}
		// The account the example names by id is in this subscription
		// (the author's id has a placeholder for it).
		for _, ph := range []string{"{subscriptionId}", "{subscription-id}"} {
			if reBlobURI.MatchString(x.Body) && strings.Contains(x.Body, "subscriptions/"+ph+"/") {
				p.bodySub(x, "subscriptions/"+ph+"/", "subscriptions/"+p.e.Sub+"/")
			}
		}
		// An update documenting a disk imported from a blob is seeded
		// with that disk: a disk of its own, in a group of its own (the
		// documented disk has its name but no id), for the disk of that
		// name the other updates share was made otherwise, and the seed
		// would replace it under them.
		if own := x.Args["resourceGroupName"]; x.seededUpdate() && x.Client == "DisksClient" && reBlobURI.MatchString(x.WantExpr) && own != "" {
			p.sub(x, "resourceGroupName", own+"-imported")
			p.e.ResourceGroups(own + "-imported")
		}
		for _, m := range reBlobURI.FindAllStringSubmatch(text, -1) {
			if k := strings.Join(m[1:], "/"); !seen[k] && rg != "" {
				seen[k] = true
				targets = append(targets, target{rg, m[1], m[2], m[3]})
			}
		}
	}
	for _, b := range targets {
		p.e.ResourceGroups(b.rg)
		p.storageAccount(b.rg, b.account)
		if err := p.uploadVHD(b.rg, b.account, b.container, b.name); err != nil {
			p.logf("blob %s/%s/%s: %v", b.account, b.container, b.name, err)
		}
	}
}

func (p *prereqs) uploadVHD(rg, account, cont, name string) error {
	A := "/subscriptions/" + p.e.Sub + "/resourceGroups/" + rg + "/providers/Microsoft.Storage/storageAccounts/" + account + "?api-version=2023-01-01"
	_, a := p.e.Do("GET", A, nil)
	endpoint, _ := a["properties"].(map[string]any)["primaryEndpoints"].(map[string]any)["blob"].(string)
	_, k := p.e.Do("POST", strings.Replace(A, "?", "/listKeys?", 1), nil)
	key := k["keys"].([]any)[0].(map[string]any)["value"].(string)
	cred, err := azblob.NewSharedKeyCredential(account, key)
	if err != nil {
		return err
	}
	hc, err := p.e.Conn.HTTPClient()
	if err != nil {
		return err
	}
	co := azcore.ClientOptions{Transport: hc, Retry: policy.RetryOptions{MaxRetries: -1}}
	cc, err := container.NewClientWithSharedKeyCredential(endpoint+cont, cred, &container.ClientOptions{ClientOptions: co})
	if err != nil {
		return err
	}
	if _, err := cc.Create(p.e.Ctx(), nil); err != nil && !bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
		return err
	}
	// 1 MiB of data (a recognizable first sector) and the fixed VHD footer.
	vhd := make([]byte, 1<<20+512)
	copy(vhd, "safehold example disk "+name)
	copy(vhd[1<<20:], "conectix")
	vhd[1<<20+63] = 2
	pb := cc.NewPageBlobClient(name)
	if _, err := pb.Create(p.e.Ctx(), int64(len(vhd)), nil); err != nil {
		return err
	}
	for _, r := range [][2]int{{0, 4096}, {1 << 20, 1<<20 + 512}} {
		if _, err := pb.UploadPages(p.e.Ctx(), nopCloser{bytes.NewReader(vhd[r[0]:r[1]])}, blob.HTTPRange{Offset: int64(r[0]), Count: int64(r[1] - r[0])}, nil); err != nil {
			return err
		}
	}
	return nil
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }
