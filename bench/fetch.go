package main

// The practical ceiling: a plain 16-way Go fetch of every package file, each
// hashed with sha256 while it is written to disk, as a mirror must.

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
)

const fetchWorkers = 16

type fetchItem struct {
	Href, SHA256 string
	Size         int64
}

// fetchResult is what the bench-fetch child prints on stdout.
type fetchResult struct {
	Files int   `json:"files"`
	Bytes int64 `json:"bytes"`
}

// runFetchChild is the bench-fetch subcommand: LIST URL OUTDIR.
func runFetchChild(args []string) error {
	if len(args) != 3 {
		return fmt.Errorf("usage: %s LIST URL OUTDIR", cmdFetch)
	}
	stop, err := profileTo(os.Getenv(envCPUProfile))
	if err != nil {
		return err
	}
	defer stop()
	items, err := readList(args[0])
	if err != nil {
		return err
	}
	base, out := strings.TrimSuffix(args[1], "/")+"/", args[2]
	client := &http.Client{
		Timeout:   5 * time.Minute,
		Transport: &http.Transport{MaxIdleConnsPerHost: fetchWorkers, DisableCompression: true},
	}
	var res fetchResult
	var bytes atomic.Int64
	g, ctx := errgroup.WithContext(context.Background())
	jobs := make(chan fetchItem)
	g.Go(func() error {
		defer close(jobs)
		for _, it := range items {
			select {
			case jobs <- it:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})
	var mkdir sync.Mutex
	for range fetchWorkers {
		g.Go(func() error {
			for it := range jobs {
				n, err := fetchOne(ctx, client, base+it.Href, filepath.Join(out, it.Href), it.SHA256, &mkdir)
				if err != nil {
					return err
				}
				bytes.Add(n)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	res.Files, res.Bytes = len(items), bytes.Load()
	return json.NewEncoder(os.Stdout).Encode(res)
}

func fetchOne(ctx context.Context, c *http.Client, url, dst, want string, mkdir *sync.Mutex) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	mkdir.Lock()
	err = os.MkdirAll(filepath.Dir(dst), 0o755)
	mkdir.Unlock()
	if err != nil {
		return 0, err
	}
	f, err := os.Create(dst)
	if err != nil {
		return 0, err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), resp.Body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return n, fmt.Errorf("GET %s: %w", url, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return n, fmt.Errorf("GET %s: sha256 %s, want %s", url, got, want)
	}
	return n, nil
}

func readList(path string) ([]fetchItem, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var items []fetchItem
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 3 {
			return nil, fmt.Errorf("%s: bad line %q", path, sc.Text())
		}
		size, err := strconv.ParseInt(fields[2], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		items = append(items, fetchItem{Href: fields[0], SHA256: fields[1], Size: size})
	}
	return items, sc.Err()
}
