package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/safehold/safehold/connect"
	"github.com/spf13/cobra"
)

// addConnFlag adds --data-dir to find connection.json.
func addConnFlag(cmd *cobra.Command, dataDir *string) {
	cmd.PersistentFlags().StringVar(dataDir, "data-dir", envOr("SAFEHOLD_DATA_DIR", "./safehold-data"), "the server's data dir, holding connection.json (env SAFEHOLD_DATA_DIR)")
}

// loadConnection reads dataDir's connection.json; when it is missing or
// damaged the error says how to get a good one.
func loadConnection(dataDir string) (*connect.Connection, error) {
	path := filepath.Join(dataDir, "connection.json")
	conn, err := connect.Load(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no connection file at %s: start the server with `safehold serve --data-dir %s`, or point --data-dir (env SAFEHOLD_DATA_DIR) at its data dir", path, dataDir)
	}
	if err == nil && (conn.AuthorityHost == "" || conn.ClientID == "" || conn.ClientSecret == "" || conn.SubscriptionID == "") {
		err = fmt.Errorf("%s lacks authorityHost, clientId, clientSecret or subscriptionId", path)
	}
	if err != nil {
		return nil, fmt.Errorf("%v\n`safehold serve --data-dir %s` writes it at each start: restart the server to rewrite it, or point --data-dir (env SAFEHOLD_DATA_DIR) at the running server's data dir", err, dataDir)
	}
	return conn, nil
}

// adminCall sends an authenticated request to the server as the admin.
func adminCall(ctx context.Context, dataDir, method, path string, body any) (map[string]any, error) {
	conn, err := loadConnection(dataDir)
	if err != nil {
		return nil, err
	}
	if err := checkServer(ctx, conn, dataDir); err != nil {
		return nil, err
	}
	cred, err := conn.Credential()
	if err != nil {
		return nil, err
	}
	resp, b, err := armCall(ctx, conn, cred, method, path, body)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if len(b) > 0 {
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, b)
		}
	}
	if resp.StatusCode >= 400 {
		ae := &adminError{Status: resp.Status}
		if e, ok := m["error"].(map[string]any); ok {
			ae.Code, _ = e["code"].(string)
			ae.Message, _ = e["message"].(string)
		}
		return nil, ae
	}
	return m, nil
}

// adminError is an error answer to adminCall.
type adminError struct{ Status, Code, Message string }

func (e *adminError) Error() string {
	if e.Code == "" {
		return e.Status
	}
	return e.Status + ": " + e.Code + ": " + e.Message
}

// armCall sends method path to conn's ARM endpoint as cred's principal,
// with body as JSON when it is not nil, and returns the answer and its body.
func armCall(ctx context.Context, conn *connect.Connection, cred azcore.TokenCredential, method, path string, body any) (*http.Response, []byte, error) {
	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{conn.ARMEndpoint + "/.default"}})
	if err != nil {
		return nil, nil, signInError(err)
	}
	hc, err := conn.HTTPClient()
	if err != nil {
		return nil, nil, err
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, nil, fmt.Errorf("encode the request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, conn.ARMEndpoint+path, rd)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

func printJSON(cmd *cobra.Command, v any) {
	b, _ := json.MarshalIndent(v, "", "  ")
	fmt.Fprintln(cmd.OutOrStdout(), string(b))
}

// checkServer asks the server's health endpoint first, so that a verb run
// with no server up says so at once (instead of the token client retrying
// for seconds and printing an MSAL error).
func checkServer(ctx context.Context, conn *connect.Connection, dataDir string) error {
	hc, err := conn.HTTPClient()
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(cctx, "GET", conn.ARMEndpoint+"/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("no Safehold server answers at %s (the armEndpoint in %s): %v. Start one with: safehold serve --data-dir %s",
			conn.ARMEndpoint, filepath.Join(dataDir, "connection.json"), rootCause(err), dataDir)
	}
	resp.Body.Close()
	return nil
}

// signInError turns a failed token request into what to check: the token
// service's own description (AADSTS...: invalid secret, unknown client)
// instead of the SDK's dump of the exchange. Other errors pass unchanged.
func signInError(err error) error {
	var afe *azidentity.AuthenticationFailedError
	if !errors.As(err, &afe) || afe.RawResponse == nil || afe.RawResponse.Body == nil {
		return err // no answer from the token service (e.g. no server): not about the credentials
	}
	desc := "the token service refused the credentials"
	var e struct {
		Description string `json:"error_description"`
	}
	if b, _ := io.ReadAll(afe.RawResponse.Body); json.Unmarshal(b, &e) == nil && e.Description != "" {
		desc = e.Description
	}
	return fmt.Errorf("sign-in failed: %s\ncheck --client-id and --client-secret (env SAFEHOLD_CLIENT_ID, SAFEHOLD_CLIENT_SECRET), or that --data-dir's connection.json belongs to the running server", desc)
}

// rootCause is the innermost error (e.g. "connection refused").
func rootCause(err error) error {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err
		}
		err = u
	}
}
