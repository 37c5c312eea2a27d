package server_test

import (
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
)

func runtimePollUntilDoneOptions() runtime.PollUntilDoneOptions {
	return runtime.PollUntilDoneOptions{Frequency: time.Second}
}

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }
