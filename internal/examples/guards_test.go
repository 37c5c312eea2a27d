package examples_test

import (
	"regexp"
	"strings"
)

// The prerequisites of the resource guard examples: the guards they name
// (in the location and with the tags the examples document for them), and
// the vaults an example's critical operation names a guard for, linked to
// that guard (as the vault of the example's author was). The example creating a guard gets
// a name of its own (it documents another guard's state), and each proxy
// delete is unlocked first, as Azure requires (unlockDelete).

var (
	reGuard     = regexp.MustCompile(`(?i)/resourceGroups/([A-Za-z0-9_.()-]+)/providers/Microsoft\.DataProtection/resourceGuards/([A-Za-z0-9_.-]+)`)
	reGuardTags = regexp.MustCompile(`Tags: map\[string\]\*string\{\s*"([^"]+)": to\.Ptr\("([^"]+)"\)`)
	reGuardLoc  = regexp.MustCompile(`Location: to\.Ptr\("([^"]+)"\)`)
)

func isProxyClient(x *example) bool {
	return x.Client == "DppResourceGuardProxyClient" || x.Client == "ResourceGuardProxyClient" || x.Client == "ResourceGuardProxiesClient"
}

// guards creates the guards the examples name and links the vaults whose
// critical operations name one.
func (p *prereqs) guards(xs []*example) {
	tags, loc := map[string]string{}, "westus"
	for _, x := range xs {
		if x.Client == "ResourceGuardsClient" && x.Method == "Get" {
			if m := reGuardTags.FindStringSubmatch(x.WantExpr); m != nil {
				tags[m[1]] = m[2]
			}
			if m := reGuardLoc.FindStringSubmatch(x.WantExpr); m != nil {
				loc = m[1]
			}
		}
	}
	seen := map[string]bool{}
	guard := func(rg, name string, tags map[string]string) string {
		id := "/subscriptions/" + p.e.Sub + "/resourceGroups/" + rg + "/providers/Microsoft.DataProtection/resourceGuards/" + name
		if !seen[strings.ToLower(id)] {
			seen[strings.ToLower(id)] = true
			if resp, m := p.e.Do("PUT", id+"?api-version=2024-04-01", map[string]any{"location": loc, "tags": tags}); resp.StatusCode >= 300 {
				p.logf("resource guard %s/%s: %d %v", rg, name, resp.StatusCode, m)
			}
		}
		return id
	}
	for _, x := range xs {
		if x.Client == "ResourceGuardsClient" && x.Args["resourceGuardsName"] != "" {
			if x.Phase == 1 {
				p.sub(x, "resourceGuardsName", x.Args["resourceGuardsName"]+"-put")
				continue
			}
			guard(x.Args["resourceGroupName"], x.Args["resourceGuardsName"], tags)
		}
	}
	for _, x := range xs {
		for _, m := range reGuard.FindAllStringSubmatch(x.Body, -1) {
			id := guard(m[1], m[2], nil)
			if isProxyClient(x) || x.Args["vaultName"] == "" || !strings.Contains(x.Body, "ResourceGuardOperationRequests") {
				continue
			}
			proxy := p.vaultPath(x) + "/backupResourceGuardProxies/VaultProxy"
			if !seen[strings.ToLower(proxy)] {
				seen[strings.ToLower(proxy)] = true
				if resp, m := p.e.Do("PUT", proxy+"?api-version="+proxyAPI(x), map[string]any{"properties": map[string]any{"resourceGuardResourceId": id}}); resp.StatusCode >= 300 {
					p.logf("link %s to %s: %d %v", proxy, id, resp.StatusCode, m)
				}
			}
		}
	}
}

// unlockProxyDeletes unlocks the delete of each proxy an example deletes.
func (p *prereqs) unlockProxyDeletes(xs []*example) {
	for _, x := range xs {
		if !isProxyClient(x) || x.Method != "Delete" {
			continue
		}
		proxy := p.vaultPath(x) + "/backupResourceGuardProxies/" + x.Args["resourceGuardProxyName"]
		if resp, m := p.e.Do("POST", proxy+"/unlockDelete?api-version="+proxyAPI(x), map[string]any{"resourceToBeDeleted": proxy}); resp.StatusCode != 200 {
			p.logf("unlock the delete of %s: %d %v", proxy, resp.StatusCode, m)
		}
	}
}

// vaultPath is the path of the vault an example names.
func (p *prereqs) vaultPath(x *example) string {
	rg := "/subscriptions/" + p.e.Sub + "/resourceGroups/" + x.Args["resourceGroupName"] + "/providers/"
	if x.Mod.Pkg == "armdataprotection" {
		return rg + "Microsoft.DataProtection/backupVaults/" + x.Args["vaultName"]
	}
	return rg + "Microsoft.RecoveryServices/vaults/" + x.Args["vaultName"]
}

// proxyAPI is an api-version both namespaces serve proxies at.
func proxyAPI(*example) string { return "2024-04-01" }
