package filesystem

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

// readTimeout is the server's ReadTimeout in these tests.
const readTimeout = 400 * time.Millisecond

// timeoutServer serves fx's blobs with a ReadTimeout, as cmd/modelreg does,
// and returns its address.
func timeoutServer(t *testing.T, fx *fixture) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(fx.a.Handler())
	srv.Config.ReadTimeout = readTimeout
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// openPart opens a connection to addr and sends the headers of a PUT of
// part 1 of fx.
func openPart(t *testing.T, fx *fixture, addr string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	pr := fx.presign(t, 1)
	fmt.Fprintf(conn, "PUT %s HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n",
		strings.TrimPrefix(pr.URL, fx.srv.URL), partContentType, len(fx.data))
	return conn
}

// answer waits (at most wait) for the server to answer or close conn and
// returns the status (0 when it closed without one) and how long it took.
func answer(t *testing.T, conn net.Conn, wait time.Duration) (int, time.Duration) {
	t.Helper()
	start := time.Now()
	conn.SetReadDeadline(start.Add(wait))
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	took := time.Since(start)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("the server still holds the connection after %v", took)
	}
	if err != nil {
		return 0, took
	}
	res.Body.Close()
	return res.StatusCode, took
}

// TestSlowSteadyPartCompletes: a part whose bytes keep arriving is not cut
// by the server's ReadTimeout, however long it takes in all.
func TestSlowSteadyPartCompletes(t *testing.T) {
	fx := newFixture(t, bytes.Repeat([]byte("s"), 64<<10), 0)
	conn := openPart(t, fx, timeoutServer(t, fx))
	start := time.Now()
	for chunk := range slices.Chunk(fx.data, 4<<10) { // 16 chunks, 100 ms apart
		if _, err := conn.Write(chunk); err != nil {
			t.Fatalf("write after %v: %v", time.Since(start), err)
		}
		time.Sleep(readTimeout / 4)
	}
	if took := time.Since(start); took < 3*readTimeout {
		t.Fatalf("the upload took %v, not longer than the timeout: the test proves nothing", took)
	}
	if status, _ := answer(t, conn, 5*time.Second); status != http.StatusOK {
		t.Fatalf("slow steady PUT = %d, want 200", status)
	}
	if got := fx.parts(t); !slices.Equal(got, []int{1}) {
		t.Fatalf("UploadedParts = %v, want [1]", got)
	}
}

// TestStalledPartIsCut: a part whose body stops arriving is cut once it
// has stalled for the ReadTimeout, whether it stalls at once or after
// progress, and the part is not received.
func TestStalledPartIsCut(t *testing.T) {
	for _, progress := range []time.Duration{0, 3 * readTimeout} {
		t.Run(fmt.Sprintf("after %v of progress", progress), func(t *testing.T) {
			fx := newFixture(t, bytes.Repeat([]byte("s"), 64<<10), 0)
			conn := openPart(t, fx, timeoutServer(t, fx))
			conn.Write(fx.data[:8])
			for end := time.Now().Add(progress); time.Now().Before(end); {
				time.Sleep(readTimeout / 4)
				conn.Write([]byte("s"))
			}
			status, took := answer(t, conn, 10*readTimeout)
			if status == http.StatusOK {
				t.Fatalf("a stalled PUT answered 200")
			}
			if took < readTimeout/2 || took > 4*readTimeout {
				t.Errorf("the stalled PUT was cut %v after it stalled, want about %v", took, readTimeout)
			}
			waitWriters(t, fx.a, 0)
			if got := fx.parts(t); len(got) != 0 {
				t.Fatalf("UploadedParts = %v after a stalled body", got)
			}
		})
	}
}
