// Package connect points the Azure SDK for Go at a Safehold server. It reads
// the connection.json that `safehold serve` writes and builds the cloud
// configuration, the CA-trusting transport and the client-secret credential:
//
//	conn, err := connect.Load("safehold-data/connection.json")
//	cred, err := conn.Credential()
//	client, err := armresources.NewResourceGroupsClient(conn.SubscriptionID, cred, conn.ARMOptions())
package connect

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// Connection is the content of connection.json.
type Connection struct {
	ARMEndpoint    string `json:"armEndpoint"`
	AuthorityHost  string `json:"authorityHost"`
	TenantID       string `json:"tenantId"`
	SubscriptionID string `json:"subscriptionId"`
	ClientID       string `json:"clientId"`
	ClientSecret   string `json:"clientSecret"`
	CACertFile     string `json:"caCertFile"`

	client *http.Client
}

// Load reads a connection.json.
func Load(path string) (*Connection, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read connection file: %w", err)
	}
	var c Connection
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	if c.ARMEndpoint == "" || c.TenantID == "" {
		return nil, fmt.Errorf("%s lacks armEndpoint or tenantId", path)
	}
	return &c, nil
}

// Cloud is the cloud configuration naming Safehold as authority and ARM.
func (c *Connection) Cloud() cloud.Configuration {
	ep := strings.TrimSuffix(c.ARMEndpoint, "/")
	return cloud.Configuration{
		ActiveDirectoryAuthorityHost: c.AuthorityHost,
		Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
			cloud.ResourceManager: {Endpoint: ep, Audience: ep},
		},
	}
}

// HTTPClient is an HTTP client that trusts the Safehold CA (and the system roots).
func (c *Connection) HTTPClient() (*http.Client, error) {
	if c.client != nil {
		return c.client, nil
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	if c.CACertFile != "" {
		pem, err := os.ReadFile(c.CACertFile)
		if err != nil {
			return nil, fmt.Errorf("read CA certificate: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s holds no PEM certificate", c.CACertFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	c.client = &http.Client{Transport: tr, Timeout: 5 * time.Minute}
	return c.client, nil
}

// ClientOptions are azcore client options for Safehold (cloud and transport).
func (c *Connection) ClientOptions() policy.ClientOptions {
	hc, err := c.HTTPClient()
	opts := policy.ClientOptions{Cloud: c.Cloud()}
	if err == nil {
		opts.Transport = hc
	}
	if strings.HasPrefix(c.ARMEndpoint, "http://") {
		opts.InsecureAllowCredentialWithHTTP = true
	}
	return opts
}

// ARMOptions are the options for any armX client.
func (c *Connection) ARMOptions() *arm.ClientOptions {
	return &arm.ClientOptions{ClientOptions: c.ClientOptions()}
}

// Credential is the admin service principal's client-secret credential.
func (c *Connection) Credential() (azcore.TokenCredential, error) {
	return c.CredentialFor(c.ClientID, c.ClientSecret)
}

// CredentialFor is a client-secret credential for another service principal.
func (c *Connection) CredentialFor(clientID, secret string) (azcore.TokenCredential, error) {
	if _, err := c.HTTPClient(); err != nil {
		return nil, err
	}
	return azidentity.NewClientSecretCredential(c.TenantID, clientID, secret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions:            c.ClientOptions(),
		DisableInstanceDiscovery: true,
	})
}
