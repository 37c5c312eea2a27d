package examples_test

// harnessMain is the fixed part of the generated program: it connects to
// the server named by SAFEHOLD_CONNECTION (connection.json) with the
// unmodified SDK, runs the examples named on the command line in order and
// prints one JSON line per example: the error (as the SDK reports it), the
// response and the documented response, both marshalled by the SDK's own
// serde into wire JSON.
const harnessMain = `package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/safehold/safehold/connect"
)

type example struct {
	run    func(*H) error
	want   func() any
	status int // the status the example documents (0: not said)
}

// H is what an example function gets from the harness.
type H struct {
	ctx   context.Context
	cred  azcore.TokenCredential
	sub   string
	opts  *arm.ClientOptions
	poll  *runtime.PollUntilDoneOptions
	id    string
	subs  map[string]map[string]string
	got   any
	pages []any

	lits   map[string]string // parameter -> the example's literal
	want   []byte            // the documented response (wire JSON)
	seeded bool
	hc     *http.Client
	arm    string

	// first is the example's own request (the first through the
	// policy) and its answer.
	first *answer
}

// answer is what the harness keeps of the example's request.
type answer struct {
	method, url, async, location string
	status                       int
}

// arg returns the argument the harness substitutes for the example's
// literal (a real recovery point, job or operation id), or the literal.
func (h *H) arg(param, v string) string {
	h.lits[param] = v
	if s, ok := h.subs[h.id][param]; ok {
		return s
	}
	return v
}

func (h *H) addPage(p any) { h.pages = append(h.pages, p) }

// raw sends one request with the harness's token.
func (h *H) raw(method, u string, body []byte) (*http.Response, []byte, error) {
	tk, err := h.cred.GetToken(h.ctx, policy.TokenRequestOptions{Scopes: []string{h.arm + "/.default"}})
	if err != nil {
		return nil, nil, err
	}
	req, err := http.NewRequestWithContext(h.ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+tk.Token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := h.hc.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b, nil
}

// opsFile holds the asynchronous operation URLs the server handed out in
// earlier runs (one path a line).
var opsFile = os.Getenv("EXAMPLES_OPS")

func recordOp(u string) {
	pu, err := url.Parse(u)
	if err != nil || opsFile == "" {
		return
	}
	f, err := os.OpenFile(opsFile, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return
	}
	fmt.Fprintln(f, pu.Path)
	f.Close()
}

func recordedOps() []string {
	b, _ := os.ReadFile(opsFile)
	return strings.Fields(string(b))
}

var reSub = regexp.MustCompile(` + "`(?i)([/\"])subscriptions/[^/\"]+`" + `)

var reNS = regexp.MustCompile(` + "`/providers/([^/]+)`" + `)

// harnessPolicy (1) names real server-generated resources where the
// example names the author's (jobs, recovery points: the first of the
// collection; operations: the last one the server started under the same
// parent), (2) before a read the outer test marked for seeding, PUTs the
// documented resource (or each documented element of a list) so the read
// has the state the example documents, (3) records operation URLs.
type harnessPolicy struct{ h *H }

func (p harnessPolicy) Do(req *policy.Request) (*http.Response, error) {
	h := p.h
	u := req.Raw().URL
	for _, param := range strings.Split(h.subs[h.id]["$generated"], ",") {
		lit, ok := h.lits[param]
		if param == "" || !ok || lit == "" {
			continue
		}
		// The last whole path segment that is the literal: a short one
		// (a recovery point "1") is also a prefix of other segments (a
		// subscription id "1a12...").
		seg := "/" + url.PathEscape(lit)
		i := -1
		for ep, j := u.EscapedPath(), 0; ; j++ {
			k := strings.Index(ep[j:], seg)
			if k < 0 {
				break
			}
			j += k
			if end := j + len(seg); end == len(ep) || ep[end] == '/' {
				i = j
			}
		}
		if i < 0 {
			continue
		}
		prefix, _ := url.PathUnescape(u.EscapedPath()[:i])
		rest := u.EscapedPath()[i+len(seg):]
		var name string
		if strings.Contains(strings.ToLower(param), "operation") {
			// The last operation under the same parent; else the last one
			// of the same namespace.
			parent := strings.ToLower(prefix[:strings.LastIndex(prefix, "/")])
			ns := ""
			if m := reNS.FindAllStringSubmatch(strings.ToLower(prefix), -1); len(m) > 0 {
				ns = "/providers/" + m[len(m)-1][1] + "/"
			}
			// When the example documents the job the operation ran, the
			// last such operation.
			wantJob := bytes.Contains(h.want, []byte(` + "`" + `"jobId"` + "`" + `))
			ranJob := func(op string) bool {
				su := *u
				su.Path, su.RawPath, su.RawQuery = op, "", "api-version="+url.QueryEscape(u.Query().Get("api-version"))
				resp, b, err := h.raw(http.MethodGet, su.String(), nil)
				return err == nil && resp.StatusCode == 200 && bytes.Contains(b, []byte(` + "`" + `"jobId"` + "`" + `))
			}
			var sameNS []string
			for _, op := range recordedOps() {
				if j := strings.LastIndex(op, "/"); j > 0 {
					if k := strings.LastIndex(op[:j], "/"); k > 0 && strings.ToLower(op[:k]) == parent && (!wantJob || ranJob(op)) {
						name = op[j+1:]
					}
					if ns != "" && strings.Contains(strings.ToLower(op), ns) {
						sameNS = append(sameNS, op[j+1:])
					}
				}
			}
			// Else the latest operation of the namespace that this route
			// answers: a status route answers only operations of the scope
			// it is under (a vault's, a resource group's), as Azure's do.
			for i := len(sameNS) - 1; name == "" && i >= 0; i-- {
				su := *u
				esc, _ := url.PathUnescape(rest)
				su.Path, su.RawPath = prefix+"/"+sameNS[i]+esc, ""
				resp, b, err := h.raw(http.MethodGet, su.String(), nil)
				if err == nil && resp.StatusCode != http.StatusNotFound && (!wantJob || bytes.Contains(b, []byte(` + "`" + `"jobId"` + "`" + `))) {
					name = sameNS[i]
				}
			}
			if name == "" && len(sameNS) > 0 {
				name = sameNS[len(sameNS)-1]
			}
		} else {
			lu := *u
			lu.Path, lu.RawPath = prefix, ""
			resp, b, err := h.raw(http.MethodGet, lu.String(), nil)
			if err == nil && resp.StatusCode == 200 {
				var list struct {
					Value []struct {
						Name string
					}
				}
				if json.Unmarshal(b, &list) == nil && len(list.Value) > 0 {
					name = list.Value[0].Name
				}
			}
			if name == "" {
				st := 0
				if resp != nil {
					st = resp.StatusCode
				}
				fmt.Fprintf(os.Stderr, "%s: no %s to name: GET %s answered %d %v %.300s\n", h.id, param, lu.String(), st, err, b)
			}
		}
		if name != "" {
			esc, _ := url.PathUnescape(rest)
			u.Path = prefix + "/" + name + esc
			u.RawPath = ""
			// The body names the same resource (a restore request's
			// recoveryPointId): it gets the real name too.
			if b := req.Body(); b != nil {
				raw, _ := io.ReadAll(b)
				_ = req.RewindBody()
				q, _ := json.Marshal(lit)
				if nb := bytes.ReplaceAll(raw, q, []byte(strconv.Quote(name))); !bytes.Equal(nb, raw) {
					_ = req.SetBody(streaming.NopCloser(bytes.NewReader(nb)), "application/json")
				}
			}
		}
	}
	// Names the prerequisites changed in the path, changed in the body too.
	var repl [][2]string
	if json.Unmarshal([]byte(h.subs[h.id]["$body"]), &repl) == nil && len(repl) > 0 {
		if b := req.Body(); b != nil {
			raw, _ := io.ReadAll(b)
			_ = req.RewindBody()
			nb := raw
			for _, r := range repl {
				nb = bytes.ReplaceAll(nb, []byte(r[0]), []byte(r[1]))
			}
			if !bytes.Equal(nb, raw) {
				_ = req.SetBody(streaming.NopCloser(bytes.NewReader(nb)), "application/json")
			}
		}
	}
	switch seed := h.subs[h.id]["$seed"]; {
	case h.seeded || len(h.want) == 0:
	case seed == "read" && req.Raw().Method == http.MethodGet:
		h.seeded = true
		if err := h.seed(u, nil); err != nil {
			return nil, fmt.Errorf("seed the documented state: %w", err)
		}
	case seed == "patch" && req.Raw().Method == http.MethodPatch:
		h.seeded = true
		var patch map[string]any
		if b := req.Body(); b != nil {
			raw, _ := io.ReadAll(b)
			_ = req.RewindBody()
			_ = json.Unmarshal(raw, &patch)
		}
		if err := h.seed(u, patch); err != nil {
			return nil, fmt.Errorf("seed the documented state: %w", err)
		}
	}
	resp, err := req.Next()
	if err == nil && h.first == nil {
		h.first = &answer{method: req.Raw().Method, url: u.String(), status: resp.StatusCode,
			async: resp.Header.Get("Azure-AsyncOperation"), location: resp.Header.Get("Location")}
	}
	if err == nil {
		for _, k := range []string{"Azure-AsyncOperation", "Location"} {
			if v := resp.Header.Get(k); v != "" {
				recordOp(v)
			}
		}
	}
	return resp, err
}

// opStatus is what an Azure-AsyncOperation URL answers.
type opStatus struct {
	Status string
	Error  json.RawMessage
}

// wait polls an Azure-AsyncOperation URL (none: nothing to wait for) until
// the operation ends, as a client's poller does: however long it runs, up
// to the example's deadline. An operation that has not ended by then, or
// whose URL does not answer, is an error: going on would read a resource
// still being created (provisioningState Creating) as if it were the one
// the example documents.
func (h *H) wait(op string) (opStatus, error) {
	var st opStatus
	for op != "" {
		r, b, err := h.raw(http.MethodGet, op, nil)
		if err != nil {
			return st, fmt.Errorf("wait for the operation %s: %w", op, err)
		}
		if r.StatusCode != http.StatusOK {
			return st, fmt.Errorf("wait for the operation %s: it answers %d: %s", op, r.StatusCode, b)
		}
		_ = json.Unmarshal(b, &st)
		if st.Status != "InProgress" && st.Status != "Running" && st.Status != "Accepted" && st.Status != "" {
			return st, nil
		}
		select {
		case <-h.ctx.Done():
			return st, fmt.Errorf("wait for the operation %s: still %s: %w", op, st.Status, h.ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
	return st, nil
}

// follow: the example documents 200 and the server answered its PUT or
// PATCH with 202 (a status the spec allows: Azure runs the request as an
// operation). The harness follows the operation to its end, as a client
// does, and the response is the resource as it then reads (a GET of the
// same URL), decoded into the SDK type of the documented response.
func (h *H) follow(x example) error {
	f := h.first
	if f == nil || x.status != http.StatusOK || f.status != http.StatusAccepted || h.got == nil ||
		(f.method != http.MethodPut && f.method != http.MethodPatch) {
		return nil
	}
	if f.async != "" {
		st, err := h.wait(f.async)
		if err != nil {
			return fmt.Errorf("follow the 202 of %s %s: %w", f.method, f.url, err)
		}
		if st.Status != "Succeeded" {
			return fmt.Errorf("follow the 202 of %s %s: the operation ended %s: %s", f.method, f.url, st.Status, st.Error)
		}
	} else if f.location != "" {
		for i := 0; ; i++ {
			r, b, err := h.raw(http.MethodGet, f.location, nil)
			if err != nil {
				return err
			}
			if r.StatusCode >= 300 {
				return fmt.Errorf("follow the 202 of %s %s: the operation answers %d: %s", f.method, f.url, r.StatusCode, b)
			}
			if r.StatusCode != http.StatusAccepted {
				break
			}
			if i == 300 {
				return fmt.Errorf("follow the 202 of %s %s: the operation has not ended", f.method, f.url)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	r, b, err := h.raw(http.MethodGet, f.url, nil)
	if err != nil {
		return err
	}
	if r.StatusCode != http.StatusOK {
		return fmt.Errorf("read %s after its operation: %d: %s", f.url, r.StatusCode, b)
	}
	v := reflect.New(reflect.TypeOf(h.got))
	if err := json.Unmarshal(b, v.Interface()); err != nil {
		return fmt.Errorf("read %s after its operation: %v", f.url, err)
	}
	h.got = v.Elem().Interface()
	return nil
}

// without removes from doc every field patch sets.
// rePremiumTier: a Premium SSD performance tier (P1 to P80).
var rePremiumTier = regexp.MustCompile(` + "`^P[0-9]+$`" + `)

// premiumTier: a disk documented with a performance tier and no sku is a
// Premium SSD disk (Azure has performance tiers for Premium SSD disks only,
// disks-change-performance), so its seed gets sku Premium_LRS (the disks
// the other examples make are Standard_LRS). Azure's
// Disk_Update_ChangeTier documents myDisk at tier P30 without its sku.
func premiumTier(u *url.URL, doc map[string]any) {
	if doc["sku"] != nil || !strings.Contains(strings.ToLower(u.Path), "/providers/microsoft.compute/disks/") {
		return
	}
	if props, ok := doc["properties"].(map[string]any); ok {
		if tier, _ := props["tier"].(string); rePremiumTier.MatchString(tier) {
			doc["sku"] = map[string]any{"name": "Premium_LRS"}
		}
	}
}

func without(doc, patch map[string]any) {
	for k, pv := range patch {
		if pm, ok := pv.(map[string]any); ok {
			if dm, ok := doc[k].(map[string]any); ok {
				without(dm, pm)
				continue
			}
		}
		delete(doc, k)
	}
}

// seed PUTs the documented resource at the URL read (less the fields of
// patch, when seeding an update), or each documented element of a list at
// its id, without its read-only fields; when the PUT is refused (a disk
// whose creation cannot change), it deletes the resource and PUTs again.
// It waits for the operations it starts to end: the read must find the
// seeded resource, not one still being created or deleted.
func (h *H) seed(u *url.URL, patch map[string]any) error {
	var doc map[string]any
	if json.Unmarshal(h.want, &doc) != nil {
		return nil
	}
	premiumTier(u, doc)
	if patch != nil {
		without(doc, patch)
	}
	put := func(target string, r map[string]any) error {
		for _, k := range []string{"id", "name", "type", "etag", "systemData"} {
			delete(r, k)
		}
		if props, ok := r["properties"].(map[string]any); ok {
			delete(props, "provisioningState")
			// A resource documented as a copy of itself (Azure's
			// Snapshot_ListByResourceGroup) can only be this resource as it
			// was created: its source is left out; one that does not exist
			// yet (Disk_ListBySubscription seeded before the group's list
			// made myManagedDisk1) is copied from an empty disk of its
			// size, {name}-source (ids are not compared).
			if cd, ok := props["creationData"].(map[string]any); ok {
				if src, _ := cd["sourceResourceId"].(string); src != "" && rgTail(src) == rgTail(target) {
					delete(cd, "sourceResourceId")
					tu := *u
					tu.Path, tu.RawPath = target, ""
					if g, _, err := h.raw(http.MethodGet, tu.String(), nil); err == nil && g.StatusCode == http.StatusNotFound {
						size := props["diskSizeGB"]
						if size == nil {
							size = 1
						}
						source := strings.Replace(target, "/snapshots/", "/disks/", 1) + "-source"
						sb, _ := json.Marshal(map[string]any{"location": r["location"], "properties": map[string]any{"diskSizeGB": size, "creationData": map[string]any{"createOption": "Empty"}}})
						su := *u
						su.Path, su.RawPath = source, ""
						sr, _, err := h.raw(http.MethodPut, su.String(), sb)
						if err != nil {
							return err
						}
						if _, err := h.wait(sr.Header.Get("Azure-AsyncOperation")); err != nil {
							return err
						}
						cd["sourceResourceId"] = source
					}
				}
			}
		}
		if id, ok := r["identity"].(map[string]any); ok {
			delete(id, "principalId")
			delete(id, "tenantId")
			if id["type"] == nil { // the update sets it: no identity to seed
				delete(r, "identity")
			}
		}
		b, _ := json.Marshal(r)
		b = reSub.ReplaceAll(b, []byte("${1}subscriptions/"+h.sub))
		tu := *u
		tu.Path, tu.RawPath = target, ""
		resp, _, err := h.raw(http.MethodPut, tu.String(), b)
		if err != nil {
			return err
		}
		if resp.StatusCode == http.StatusConflict || resp.StatusCode == http.StatusBadRequest && strings.Contains(strings.ToLower(target), "/microsoft.compute/") {
			_, was, _ := h.raw(http.MethodGet, tu.String(), nil)
			if d, _, err := h.raw(http.MethodDelete, tu.String(), nil); err == nil {
				if _, err := h.wait(d.Header.Get("Azure-AsyncOperation")); err != nil {
					return err
				}
			}
			if resp, _, err = h.raw(http.MethodPut, tu.String(), b); err != nil {
				return err
			}
			// An empty disk documented without its size (an update of
			// another property) is recreated with the size it had.
			var old struct {
				Properties struct {
					DiskSizeGB json.RawMessage
				}
			}
			if props, ok := r["properties"].(map[string]any); ok && resp.StatusCode == http.StatusBadRequest && props["diskSizeGB"] == nil &&
				json.Unmarshal(was, &old) == nil && len(old.Properties.DiskSizeGB) > 0 {
				props["diskSizeGB"] = old.Properties.DiskSizeGB
				b, _ = json.Marshal(r)
				b = reSub.ReplaceAll(b, []byte("${1}subscriptions/"+h.sub))
				if resp, _, err = h.raw(http.MethodPut, tu.String(), b); err != nil {
					return err
				}
			}
		}
		_, err = h.wait(resp.Header.Get("Azure-AsyncOperation"))
		return err
	}
	if vals, ok := doc["value"].([]any); ok {
		// A list documenting several resources under one id (Azure's
		// Disk_ListByResourceGroup: myManagedDisk1 to 3, each with the id
		// of myManagedDisk) documents them by name.
		ids := map[string]int{}
		for _, v := range vals {
			if r, ok := v.(map[string]any); ok {
				id, _ := r["id"].(string)
				ids[strings.ToLower(id)]++
			}
		}
		for _, v := range vals {
			r, ok := v.(map[string]any)
			if !ok {
				continue
			}
			id, _ := r["id"].(string)
			if !strings.HasPrefix(strings.ToLower(id), "/subscriptions/") {
				continue
			}
			if name, _ := r["name"].(string); ids[strings.ToLower(id)] > 1 && name != "" && !strings.HasSuffix(id, "/"+name) {
				id = id[:strings.LastIndex(id, "/")+1] + name
			}
			if err := put(reSub.ReplaceAllString(id, "${1}subscriptions/"+h.sub), r); err != nil {
				return err
			}
		}
		return nil
	}
	return put(u.Path, doc)
}

// rgTail is an id from its resource group on, lower case.
func rgTail(id string) string {
	id = strings.ToLower(id)
	if i := strings.Index(id, "/resourcegroups/"); i >= 0 {
		return id[i:]
	}
	return id
}

type result struct {
	ID    string            ` + "`json:\"id\"`" + `
	Err   string            ` + "`json:\"err,omitempty\"`" + `
	Got   json.RawMessage   ` + "`json:\"got,omitempty\"`" + `
	Pages []json.RawMessage ` + "`json:\"pages,omitempty\"`" + `
	Want  json.RawMessage   ` + "`json:\"want,omitempty\"`" + `
}

func main() {
	conn, err := connect.Load(os.Getenv("SAFEHOLD_CONNECTION"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	cred, err := conn.Credential()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	hc, err := conn.HTTPClient()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	subs := map[string]map[string]string{}
	if f := os.Getenv("EXAMPLES_SUBS"); f != "" {
		b, err := os.ReadFile(f)
		if err == nil {
			err = json.Unmarshal(b, &subs)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
	enc := json.NewEncoder(os.Stdout)
	for _, id := range os.Args[1:] {
		x, ok := examples[id]
		if !ok {
			fmt.Fprintln(os.Stderr, "unknown example", id)
			os.Exit(2)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		h := &H{ctx: ctx, cred: cred, sub: conn.SubscriptionID, id: id, subs: subs, lits: map[string]string{}, hc: hc, arm: conn.ARMEndpoint,
			poll: &runtime.PollUntilDoneOptions{Frequency: time.Second}}
		h.opts = conn.ARMOptions()
		h.opts.PerCallPolicies = append(h.opts.PerCallPolicies, harnessPolicy{h})
		if x.want != nil {
			h.want, _ = json.Marshal(x.want())
		}
		r := result{ID: id}
		func() {
			defer func() {
				if p := recover(); p != nil {
					r.Err = fmt.Sprintf("panic: %v", p)
				}
			}()
			err := x.run(h)
			if err == nil {
				err = h.follow(x)
			}
			if err != nil {
				r.Err = err.Error()
			}
		}()
		cancel()
		if h.got != nil {
			r.Got, _ = json.Marshal(h.got)
		}
		for _, p := range h.pages {
			b, _ := json.Marshal(p)
			r.Pages = append(r.Pages, b)
		}
		if x.want != nil {
			r.Want, _ = json.Marshal(x.want())
		}
		if err := enc.Encode(r); err != nil {
			os.Exit(2)
		}
	}
}
`
