// Command webhook is a receiver of modelreg's deploy webhooks, with the
// standard library only: it checks the Modelreg-Signature, rejects
// timestamps older than 5 minutes, and ignores a delivery whose
// Modelreg-Event-Id it has seen (delivery is at least once). README.md
// ("Webhooks") shows verify; the tests run it.
//
//	MODELREG_WEBHOOK_SECRET=... go run ./examples/webhook -addr :9000
package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"io"
	"log"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// verify checks a Modelreg-Signature header ("t=UNIX,v1=HEX") against the
// raw request body: the HMAC-SHA256 of t + "." + body under secret must
// match, and t must be within 5 minutes of now.
func verify(secret []byte, header string, body []byte, now time.Time) error {
	var ts string
	var sigs []string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return errors.New("malformed signature header")
	}
	if age := now.Sub(time.Unix(sec, 0)); age > 5*time.Minute || age < -5*time.Minute {
		return errors.New("signature timestamp too old (or in the future)")
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts + "."))
	m.Write(body)
	want := hex.EncodeToString(m.Sum(nil))
	for _, s := range sigs {
		if hmac.Equal([]byte(s), []byte(want)) {
			return nil
		}
	}
	return errors.New("signature does not match")
}

// receiver accepts verified deliveries once per event id.
type receiver struct {
	secret []byte
	mu     sync.Mutex
	seen   map[string]bool
	deploy func(body []byte) // what the receiver does with a new version
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	if err := verify(rc.secret, r.Header.Get("Modelreg-Signature"), body, time.Now()); err != nil {
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	id := r.Header.Get("Modelreg-Event-Id")
	rc.mu.Lock()
	dup := rc.seen[id]
	rc.seen[id] = true
	rc.mu.Unlock()
	if !dup {
		rc.deploy(body)
	}
	w.WriteHeader(http.StatusNoContent)
}

func main() {
	addr := flag.String("addr", "127.0.0.1:9000", "listen address")
	flag.Parse()
	rc := &receiver{secret: []byte(os.Getenv("MODELREG_WEBHOOK_SECRET")), seen: map[string]bool{},
		deploy: func(body []byte) { log.Printf("deploy %s", body) }}
	log.Fatal(http.ListenAndServe(*addr, rc))
}
