package examples_test

// harnessMain is the fixed part of the generated program: it connects to
// the server named by SAFEHOLD_CONNECTION (connection.json) with the
// unmodified SDK, runs the examples named on the command line in order and
// prints one JSON line per example: the error (as the SDK reports it), the
// response and the documented response, both marshalled by the SDK's own
// serde into wire JSON.
const harnessMain = `package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/safehold/safehold/connect"
)

type example struct {
	run  func(*H) error
	want func() any
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
}

// arg returns the argument the harness substitutes for the example's
// literal (a real recovery point, job or operation id), or the literal.
func (h *H) arg(param, v string) string {
	if s, ok := h.subs[h.id][param]; ok {
		return s
	}
	return v
}

func (h *H) addPage(p any) { h.pages = append(h.pages, p) }

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
		h := &H{ctx: ctx, cred: cred, sub: conn.SubscriptionID, opts: conn.ARMOptions(), id: id, subs: subs,
			poll: &runtime.PollUntilDoneOptions{Frequency: time.Second}}
		r := result{ID: id}
		func() {
			defer func() {
				if p := recover(); p != nil {
					r.Err = fmt.Sprintf("panic: %v", p)
				}
			}()
			if err := x.run(h); err != nil {
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
