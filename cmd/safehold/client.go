package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/safehold/safehold/connect"
	"github.com/spf13/cobra"
)

// addConnFlag adds --data-dir to find connection.json.
func addConnFlag(cmd *cobra.Command, dataDir *string) {
	cmd.PersistentFlags().StringVar(dataDir, "data-dir", envOr("SAFEHOLD_DATA_DIR", "./safehold-data"), "the server's data dir, holding connection.json (env SAFEHOLD_DATA_DIR)")
}

// adminCall sends an authenticated request to the server as the admin.
func adminCall(ctx context.Context, dataDir, method, path string, body any) (map[string]any, error) {
	conn, err := connect.Load(filepath.Join(dataDir, "connection.json"))
	if err != nil {
		return nil, fmt.Errorf("%w (is the server running with this --data-dir?)", err)
	}
	cred, err := conn.Credential()
	if err != nil {
		return nil, err
	}
	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{conn.ARMEndpoint + "/.default"}})
	if err != nil {
		return nil, fmt.Errorf("get token: %w", err)
	}
	hc, err := conn.HTTPClient()
	if err != nil {
		return nil, err
	}
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, conn.ARMEndpoint+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if len(b) > 0 {
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, b)
		}
	}
	if resp.StatusCode >= 400 {
		if e, ok := m["error"].(map[string]any); ok {
			return nil, fmt.Errorf("%s: %v: %v", resp.Status, e["code"], e["message"])
		}
		return nil, fmt.Errorf("%s", resp.Status)
	}
	return m, nil
}

func printJSON(cmd *cobra.Command, v any) {
	b, _ := json.MarshalIndent(v, "", "  ")
	fmt.Fprintln(cmd.OutOrStdout(), string(b))
}
