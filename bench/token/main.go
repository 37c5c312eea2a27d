// Command token prints an access token for the admin of a connection.json (for load tools).
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/safehold/safehold/connect"
)

func main() {
	c, err := connect.Load(os.Args[1])
	if err != nil {
		panic(err)
	}
	cred, _ := c.Credential()
	tk, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{c.ARMEndpoint + "/.default"}})
	if err != nil {
		panic(err)
	}
	fmt.Print(tk.Token)
}
