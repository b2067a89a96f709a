// go_kes_client - a KES client built on Go's own TLS stack, as MinIO's
// (kes-go) is: the API key turned into a self-signed Ed25519 certificate
// exactly as kes-go does it, or a certificate and key from files. Go's
// client withholds its certificate when the server's CertificateRequest
// names CAs that did not issue it, which is why the KES listener names none.
//
// Usage: go_kes_client CA.pem URL (API_KEY | CERT.pem KEY.pem)
// Requests come on stdin, one per line: METHOD PATH [BODY]; each answer is
// printed as one JSON line {"status": N, "body": "..."} or {"error": "..."}.
// KES_TLS_MAX=1.2 caps the protocol version. Standard library only.
package main

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"os"
	"strings"
	"time"
)

func apiKeyCertificate(key string) (tls.Certificate, error) {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(key, "kes:v1:"))
	if err != nil || len(raw) != 1+ed25519.SeedSize || raw[0] != 0 {
		return tls.Certificate{}, io.ErrUnexpectedEOF
	}
	priv := ed25519.NewKeyFromSeed(raw[1:])
	pub := priv.Public().(ed25519.PublicKey)
	spki, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return tls.Certificate{}, err
	}
	id := sha256.Sum256(spki)
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: hex.EncodeToString(id[:])},
		NotBefore:             time.Now().Add(-time.Minute),
		NotAfter:              time.Now().Add(90 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, &tmpl, &tmpl, pub, priv)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: priv}, nil
}

func main() {
	out := json.NewEncoder(os.Stdout)
	fail := func(err error) {
		out.Encode(map[string]string{"error": err.Error()})
		os.Exit(1)
	}
	ca, err := os.ReadFile(os.Args[1])
	if err != nil {
		fail(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	var cert tls.Certificate
	if strings.HasPrefix(os.Args[3], "kes:") {
		cert, err = apiKeyCertificate(os.Args[3])
	} else {
		cert, err = tls.LoadX509KeyPair(os.Args[3], os.Args[4])
	}
	if err != nil {
		fail(err)
	}
	conf := &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert},
		ServerName: "localhost", MinVersion: tls.VersionTLS12}
	if os.Getenv("KES_TLS_MAX") == "1.2" {
		conf.MaxVersion = tls.VersionTLS12
	}
	client := &http.Client{Timeout: 30 * time.Second,
		Transport: &http.Transport{TLSClientConfig: conf}}
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		f := strings.SplitN(in.Text(), " ", 3)
		if len(f) < 2 {
			continue
		}
		body := ""
		if len(f) == 3 {
			body = f[2]
		}
		req, err := http.NewRequest(f[0], os.Args[2]+f[1], bytes.NewBufferString(body))
		if err != nil {
			fail(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			out.Encode(map[string]string{"error": err.Error()})
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		out.Encode(map[string]interface{}{"status": resp.StatusCode, "body": string(b)})
	}
}
