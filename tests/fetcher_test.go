package tests

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// fetcherEnv makes the test binary act as a repo client in its own process:
// it reads repomd.xml, then every file it names, verifying each checksum,
// until its stop file appears. It prints how many rounds and distinct
// repomd revisions it saw, and exits 1 on the first 404 or mismatch.
const (
	fetcherEnv     = "OSFLOW_E2E_FETCH_URL"
	fetcherStopEnv = "OSFLOW_E2E_FETCH_STOP"
)

type fetchRepomd struct {
	Data []struct {
		Type     string `xml:"type,attr"`
		Checksum struct {
			Type  string `xml:"type,attr"`
			Value string `xml:",chardata"`
		} `xml:"checksum"`
		Location struct {
			Href string `xml:"href,attr"`
		} `xml:"location"`
	} `xml:"data"`
}

func runFetcher(base string) int {
	stop := os.Getenv(fetcherStopEnv)
	client := &http.Client{Timeout: 10 * time.Second}
	rounds := 0
	seen := map[string]bool{}
	for {
		if _, err := os.Stat(stop); err == nil && rounds > 0 {
			fmt.Printf("rounds=%d revisions=%d\n", rounds, len(seen))
			return 0
		}
		body, err := get(client, base+"repodata/repomd.xml")
		if err != nil {
			fmt.Println(err)
			return 1
		}
		sum := sha256.Sum256(body)
		seen[hex.EncodeToString(sum[:])] = true
		var md fetchRepomd
		if err := xml.Unmarshal(body, &md); err != nil {
			fmt.Printf("parse repomd.xml: %v\n", err)
			return 1
		}
		for _, d := range md.Data {
			b, err := get(client, base+d.Location.Href)
			if err != nil {
				fmt.Println(err)
				return 1
			}
			if d.Checksum.Type != "sha256" {
				continue
			}
			got := sha256.Sum256(b)
			if hex.EncodeToString(got[:]) != strings.TrimSpace(d.Checksum.Value) {
				fmt.Printf("checksum mismatch for %s\n", d.Location.Href)
				return 1
			}
		}
		rounds++
	}
}

func get(c *http.Client, url string) ([]byte, error) {
	resp, err := c.Get(url)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return io.ReadAll(resp.Body)
}
