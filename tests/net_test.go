package tests

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"google.golang.org/protobuf/proto"

	"github.com/osflow/osflow/activities"
	"github.com/osflow/osflow/integrations/repo/upstream"
	"github.com/osflow/osflow/internal/testtool"
	"github.com/osflow/osflow/workflows"
)

// counted serves dir and counts the requests.
func counted(t *testing.T, dir string) (*httptest.Server, *atomic.Int32) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.FileServer(http.Dir(dir)).ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

// buildRepo builds specs into a new repo directory, createrepo_c given args.
func buildRepo(t *testing.T, specs []upstream.Spec, args ...string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	_, err := upstream.BuildSpecs(ctx, specs, dir)
	require.NoError(t, err)
	require.NoError(t, upstream.Createrepo(ctx, dir, args...))
	return dir
}

// TestSyncFromEntitledCDNAndMetalink is a RHEL/EPEL site in one DailySync:
// a CDN that wants the host's entitlement certificate, reached through
// the site's proxy (CONNECT), and EPEL through a metalink whose first
// mirror is down and second stale, also through the proxy. Both reach
// testing, dnf installs from them, and the sync's status names the mirror
// read and the two refused.
func TestSyncFromEntitledCDNAndMetalink(t *testing.T) {
	testtool.Need(t, "rpmbuild", "createrepo_c", "dnf")
	const user, pass = "osflow", "pr0xy-pw"
	proxy := testtool.NewForwardProxy(t, user, pass)
	pki := testtool.NewPKI(t)

	rhelDir := buildRepo(t, []upstream.Spec{spec("rhel-tool", "1.0")})
	var cdnHits atomic.Int32
	cdn := pki.ServeTLS(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cdnHits.Add(1)
		http.FileServer(http.Dir(rhelDir)).ServeHTTP(w, r)
	}))

	staleDir := buildRepo(t, []upstream.Spec{spec("epel-tool", "1.0")}, "--revision", "1700000000", "--set-timestamp-to-revision")
	goodDir := buildRepo(t, []upstream.Spec{spec("epel-tool", "2.0")})
	stale, staleHits := counted(t, staleDir)
	good, goodHits := counted(t, goodDir)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	down := "http://" + ln.Addr().String() + "/"
	ln.Close()
	raw, err := os.ReadFile(filepath.Join(goodDir, "repodata", "repomd.xml"))
	require.NoError(t, err)
	metalink := fmt.Sprintf(`<?xml version="1.0" encoding="utf-8"?>
<metalink version="3.0" xmlns="http://www.metalinker.org/" xmlns:mm0="http://fedorahosted.org/mirrormanager">
 <files><file name="repomd.xml">
  <mm0:timestamp>%d</mm0:timestamp><size>%d</size>
  <verification><hash type="sha256">%x</hash></verification>
  <resources>
   <url protocol="http" preference="100">%srepodata/repomd.xml</url>
   <url protocol="http" preference="99">%s/repodata/repomd.xml</url>
   <url protocol="http" preference="98">%s/repodata/repomd.xml</url>
  </resources>
 </file></files>
</metalink>`, time.Now().Unix(), len(raw), sha256.Sum256(raw), down, stale.URL, good.URL)
	var mmHits atomic.Int32
	mm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mmHits.Add(1)
		w.Write([]byte(metalink))
	}))
	t.Cleanup(mm.Close)

	s := newSite(t, "e2e-net", map[string][]upstream.Spec{"baseos": {spec("hpc-base", "1.0")}}, fmt.Sprintf(`  - name: rhel
    url: %s/
    tls:
      clientCert: %s
      clientKey: %s
      caCert: %s
    proxy: %s
  - name: epel
    metalink: %s/metalink?repo=epel-9&arch=x86_64
    proxy: %s
`, cdn.URL, pki.ClientCert, pki.ClientKey, pki.CAFile, proxy.URLWith(user, pass), mm.URL, proxy.URLWith(user, pass)))

	st, run := s.syncRecorded("")
	require.Equal(t, workflows.PhaseDone, st.Phase)
	repos := map[string]activities.RepoSync{}
	for _, r := range st.Repos {
		repos[r.Repo] = r
	}
	require.Equal(t, 1, repos["rhel"].Packages)
	require.Positive(t, cdnHits.Load())
	require.Positive(t, proxy.Tunnels.Load(), "the CDN was reached around the proxy")

	epel := repos["epel"]
	require.Equal(t, 1, epel.Packages)
	require.Equal(t, good.URL+"/", epel.Mirror)
	require.Len(t, epel.Refused, 2, "%+v", epel.Refused)
	require.Equal(t, down, epel.Refused[0].Mirror)
	require.Contains(t, epel.Refused[0].Reason, "502 Bad Gateway") // the proxy's answer for a mirror that is down
	require.Equal(t, stale.URL+"/", epel.Refused[1].Mirror)
	require.Contains(t, epel.Refused[1].Reason, "stale mirror")
	// Every EPEL request went through the proxy: the metalink, both live
	// mirrors, and the one to the mirror that is down.
	require.Equal(t, mmHits.Load()+staleHits.Load()+goodHits.Load()+1, proxy.Forwarded.Load())

	// Neither the proxy's password nor the key is in the history; the
	// mirror read is (the scan sees the payloads).
	var hist []byte
	it := s.client.GetWorkflowHistory(context.Background(), run.GetID(), run.GetRunID(), false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		require.NoError(t, err)
		b, err := proto.Marshal(ev)
		require.NoError(t, err)
		hist = append(hist, b...)
	}
	require.Contains(t, string(hist), good.URL)
	require.NotContains(t, string(hist), pass)
	require.NotContains(t, string(hist), pki.KeyPEM[40:120])

	root := filepath.Join(s.dir, "node")
	out := s.dnf(root, "testing", "install", "rhel-tool", "epel-tool")
	require.Equal(t, "epel-tool-2.0-1", installed(t, root, "epel-tool"), out)
	require.Equal(t, "rhel-tool-1.0-1", installed(t, root, "rhel-tool"))
	require.False(t, strings.Contains(out, pass))
}
