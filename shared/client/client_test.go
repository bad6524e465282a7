package client

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/modelreg/modelreg/shared/httpapi"
)

// TestNetworkErrorsHideSignatures: a failed part upload or download does
// not print the presigned URL's query (its signature and credentials).
func TestNetworkErrorsHideSignatures(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now: every request fails to connect
	c := New("http://"+addr, "")
	c.Retries = 0
	const secret = "X-Amz-Signature=deadbeefsecret&X-Amz-Security-Token=tok"
	u := "http://" + addr + "/bucket/model.bin?" + secret
	_, err = c.putPart(context.Background(), httpapi.PartRequest{Number: 1, Method: "PUT", URL: u, Size: 3}, strings.NewReader("abc"))
	if err == nil || strings.Contains(err.Error(), "deadbeef") || !strings.Contains(err.Error(), "/bucket/model.bin") {
		t.Errorf("part upload error: %v", err)
	}
	err = c.DownloadFile(context.Background(), httpapi.DownloadLink{Artifact: httpapi.Artifact{Path: "model.bin", Size: 3}, URL: u}, t.TempDir()+"/m", nil)
	if err == nil || strings.Contains(err.Error(), "deadbeef") || strings.Contains(err.Error(), "tok") {
		t.Errorf("download error: %v", err)
	}
}
