// Command baseline is the yardstick for bench/arm-get.sh: a bare net/http
// TLS server that answers every request with one fixed body, using the same
// certificate as the Safehold server it is compared with. Nothing but the
// standard library's HTTPS stack runs per request.
//
//	baseline -addr 127.0.0.1:18448 -cert server.pem -key server-key.pem -body body.json
package main

import (
	"crypto/tls"
	"flag"
	"log"
	"net/http"
	"os"
	"strconv"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18448", "listen address")
	cert := flag.String("cert", "", "TLS certificate (PEM)")
	key := flag.String("key", "", "TLS key (PEM)")
	bodyFile := flag.String("body", "", "file whose bytes every response carries")
	flag.Parse()
	body, err := os.ReadFile(*bodyFile)
	if err != nil {
		log.Fatal(err)
	}
	n := strconv.Itoa(len(body))
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("Content-Length", n)
		w.Write(body)
	})
	srv := &http.Server{Addr: *addr, Handler: h, ReadHeaderTimeout: 30 * time.Second,
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){}} // HTTP/1.1, as Safehold
	log.Fatal(srv.ListenAndServeTLS(*cert, *key))
}
