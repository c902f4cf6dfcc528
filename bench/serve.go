package main

// The upstreams are served over loopback by a plain Go file server.

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"
)

// serveDir serves dir on 127.0.0.1 at a free port and returns its base URL
// and a function that stops the server.
func serveDir(dir string) (base string, stop func(context.Context) error, err error) {
	return serve(http.FileServer(http.Dir(dir)))
}

// serve serves h on 127.0.0.1 at a free port.
func serve(h http.Handler) (base string, stop func(context.Context) error, err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			progress("http server: %v", err)
		}
	}()
	return "http://" + ln.Addr().String(), srv.Shutdown, nil
}
