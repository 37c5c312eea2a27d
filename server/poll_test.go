package server_test

import (
	"net/url"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
)

func runtimePollUntilDoneOptions() runtime.PollUntilDoneOptions {
	return runtime.PollUntilDoneOptions{Frequency: time.Second}
}

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }

func pathEscape(s string) string  { return url.PathEscape(s) }
func queryEscape(s string) string { return url.QueryEscape(s) }
