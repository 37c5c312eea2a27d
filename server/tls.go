package server

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"github.com/safehold/safehold/internal/datafile"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/safehold/safehold/store"
)

// TLSFiles are the generated CA and server certificate in the data dir.
type TLSFiles struct {
	CACert, CAKey, Cert, Key string
}

func tlsFiles(dataDir string) TLSFiles {
	d := filepath.Join(dataDir, "tls")
	return TLSFiles{
		CACert: filepath.Join(d, "ca.pem"), CAKey: filepath.Join(d, "ca-key.pem"),
		Cert: filepath.Join(d, "server.pem"), Key: filepath.Join(d, "server-key.pem"),
	}
}

// ensureTLS loads the CA and server certificate from the data dir, creating
// the CA on first start and (re)issuing the server certificate when it is
// missing, about to expire, or does not cover every host in hosts.
func ensureTLS(dataDir string, hosts []string, now time.Time) (TLSFiles, error) {
	f := tlsFiles(dataDir)
	if err := datafile.MkdirAll(filepath.Dir(f.CACert)); err != nil {
		return f, err
	}
	caCert, caKey, err := loadPair(f.CACert, f.CAKey)
	if errors.Is(err, os.ErrNotExist) {
		caCert, caKey, err = newCA(now)
		if err == nil {
			err = writePair(f.CACert, f.CAKey, caCert, caKey)
		}
	}
	if err != nil {
		return f, fmt.Errorf("certificate authority: %w", err)
	}
	cert, _, err := loadPair(f.Cert, f.Key)
	if err == nil && covers(cert, hosts) && now.Add(30*24*time.Hour).Before(cert.NotAfter) {
		return f, nil
	}
	cert, key, err := newServerCert(caCert, caKey, hosts, now)
	if err != nil {
		return f, fmt.Errorf("server certificate: %w", err)
	}
	return f, writePair(f.Cert, f.Key, cert, key)
}

func covers(c *x509.Certificate, hosts []string) bool {
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			if !slices.ContainsFunc(c.IPAddresses, func(x net.IP) bool { return x.Equal(ip) }) {
				return false
			}
		} else if !slices.ContainsFunc(c.DNSNames, func(x string) bool { return strings.EqualFold(x, h) }) {
			return false
		}
	}
	return true
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	return n
}

func newCA(now time.Time) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: "Safehold local CA", Organization: []string{"Safehold"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(10, 0, 0),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, BasicConstraintsValid: true, IsCA: true, MaxPathLenZero: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	c, err := x509.ParseCertificate(der)
	return c, key, err
}

func newServerCert(ca *x509.Certificate, caKey *ecdsa.PrivateKey, hosts []string, now time.Time) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: hosts[0], Organization: []string{"Safehold"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(1, 0, 0),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, err
	}
	c, err := x509.ParseCertificate(der)
	return c, key, err
}

func loadPair(certFile, keyFile string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	cb, err := os.ReadFile(certFile)
	if err != nil {
		return nil, nil, err
	}
	kb, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, nil, err
	}
	cblk, _ := pem.Decode(cb)
	kblk, _ := pem.Decode(kb)
	if cblk == nil || kblk == nil {
		return nil, nil, fmt.Errorf("%s or %s is not PEM", certFile, keyFile)
	}
	c, err := x509.ParseCertificate(cblk.Bytes)
	if err != nil {
		return nil, nil, err
	}
	k, err := x509.ParseECPrivateKey(kblk.Bytes)
	if err != nil {
		return nil, nil, err
	}
	return c, k, nil
}

func writePair(certFile, keyFile string, c *x509.Certificate, k *ecdsa.PrivateKey) error {
	kder, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return err
	}
	if err := datafile.WriteAtomic(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})); err != nil {
		return err
	}
	return datafile.WriteAtomic(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
}

func loadTLSConfig(certFile, keyFile string) (*tls.Config, error) {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load TLS certificate: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, nil
}

// sharedCAKey is the store document holding the certificate authority, so
// that every replica sharing a store issues its server certificate from one
// CA and any replica's connection.json trusts all of them.
const sharedCAKey = "tls-ca"

type sharedCA struct {
	Cert []byte `json:"cert"` // PEM
	Key  []byte `json:"key"`  // PEM
}

// syncCA makes the data dir's CA the store's: the first replica (or an
// existing single node) publishes its CA, later ones adopt it (and reissue
// their server certificate under it). Replicas starting together race on
// one Create; the losers adopt the winner's CA.
func syncCA(ctx context.Context, st store.Store, dataDir string, now time.Time) error {
	f := tlsFiles(dataDir)
	if err := datafile.MkdirAll(filepath.Dir(f.CACert)); err != nil {
		return err
	}
	d, err := st.Get(ctx, "config", sharedCAKey)
	if err == nil {
		var ca sharedCA
		if err := json.Unmarshal(d.Value, &ca); err != nil {
			return fmt.Errorf("decode shared CA: %w", err)
		}
		if cur, _ := os.ReadFile(f.CACert); bytes.Equal(cur, ca.Cert) {
			return nil
		}
		if err := datafile.WriteAtomic(f.CAKey, ca.Key); err != nil {
			return err
		}
		if err := datafile.WriteAtomic(f.CACert, ca.Cert); err != nil {
			return err
		}
		os.Remove(f.Cert) // issued by another CA: reissue
		return nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if _, _, err := loadPair(f.CACert, f.CAKey); errors.Is(err, os.ErrNotExist) {
		c, k, err := newCA(now)
		if err == nil {
			err = writePair(f.CACert, f.CAKey, c, k)
		}
		if err != nil {
			return fmt.Errorf("certificate authority: %w", err)
		}
	} else if err != nil {
		return fmt.Errorf("certificate authority: %w", err)
	}
	var ca sharedCA
	if ca.Cert, err = os.ReadFile(f.CACert); err != nil {
		return err
	}
	if ca.Key, err = os.ReadFile(f.CAKey); err != nil {
		return err
	}
	b, _ := json.Marshal(ca)
	err = st.Update(ctx, func(tx store.Tx) error { return tx.Create(ctx, store.Doc{Kind: "config", Key: sharedCAKey, Value: b}) })
	if errors.Is(err, store.ErrConflict) {
		return syncCA(ctx, st, dataDir, now)
	}
	return err
}
