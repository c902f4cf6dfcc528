// Package web checks the nginx and httpd configurations that serve osflow's
// channels: each runs under the real server, answers every request as
// osflow's own handler does (the same fallback through .prev and the
// channel's recent releases), sets the cache headers, and serves a channel
// that dnf installs from.
package web

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/osflow/osflow/integrations/repo"
	"github.com/osflow/osflow/integrations/repo/mirror"
	"github.com/osflow/osflow/integrations/repo/rpmmd"
	"github.com/osflow/osflow/integrations/repo/upstream"
	"github.com/osflow/osflow/internal/testtool"
)

// fixture is a store whose testing channel served three releases of repo
// baseos in turn (hpc-web 1.0, 1.1, 1.2): the current one, the one in
// testing.prev, and one reachable only through the audit log.
type fixture struct {
	dir   string
	store *repo.Store
	rels  []string // oldest first; rels[2] is current
}

// emptyFixture is a fixture with an empty store, which the web servers'
// unprivileged workers can reach.
func emptyFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{dir: t.TempDir()}
	require.NoError(t, os.Chmod(filepath.Dir(f.dir), 0o755))
	require.NoError(t, os.Chmod(f.dir, 0o755))
	var err error
	f.store, err = repo.Open(filepath.Join(f.dir, "store"))
	require.NoError(t, err)
	return f
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	testtool.Need(t, "rpmbuild", "createrepo_c")
	ctx := context.Background()
	f := emptyFixture(t)
	m := mirror.New(f.store, 4, zap.NewNop())
	t0 := time.Date(2026, 11, 1, 3, 0, 0, 0, time.UTC)
	for i, v := range []string{"1.0", "1.1", "1.2"} {
		up := filepath.Join(f.dir, "upstream-"+v)
		_, err := upstream.BuildSpecs(ctx, []upstream.Spec{{Name: "hpc-web", Version: v, Release: "1", Summary: "web server test package"}}, up)
		require.NoError(t, err)
		require.NoError(t, upstream.Createrepo(ctx, up))
		res, err := m.Sync(ctx, mirror.Source{Repo: "baseos", URL: "file://" + up}, nil)
		require.NoError(t, err)
		rel, _, err := f.store.CreateRelease(t0.Add(time.Duration(i)*24*time.Hour), map[string]string{"baseos": res.Snapshot.ID})
		require.NoError(t, err)
		_, err = f.store.Switch(ctx, repo.SwitchRequest{Channel: "testing", Release: rel.ID, Actor: "web-test", Reason: "release " + v})
		require.NoError(t, err)
		f.rels = append(f.rels, rel.ID)
	}
	return f
}

// files lists the paths, below the repo, of a release's metadata and packages.
func (f *fixture) files(t *testing.T, rel string) []string {
	t.Helper()
	base := filepath.Join(f.store.Root(), "releases", rel, "baseos")
	var out []string
	for _, pattern := range []string{"repodata/*", "Packages/*.rpm", "*.rpm"} {
		m, err := filepath.Glob(filepath.Join(base, pattern))
		require.NoError(t, err)
		for _, p := range m {
			rel, err := filepath.Rel(base, p)
			require.NoError(t, err)
			out = append(out, rel)
		}
	}
	require.NotEmpty(t, out)
	return out
}

// server is a running web server under test.
type server struct {
	name string
	url  string
}

func TestChannelServers(t *testing.T) {
	testtool.Need(t, "nginx", "apache2", "dnf")
	f := newFixture(t)
	goHandler := httptest.NewServer(repo.Handler(f.store))
	t.Cleanup(goHandler.Close)
	servers := []server{startNginx(t, f), startHTTPD(t, f)}

	// Every file of every release, through the channel: current, .prev,
	// then the audit log; plus paths that must be refused.
	var paths []string
	for _, rel := range f.rels {
		for _, p := range f.files(t, rel) {
			if p != "repodata/repomd.xml" {
				paths = append(paths, "/testing/baseos/"+p)
			}
		}
	}
	paths = append(paths,
		"/testing/baseos/repodata/repomd.xml",
		"/testing/baseos/repodata/0000000000000000000000000000000000000000000000000000000000000000-primary.xml.gz",
		"/testing/baseos/Packages/no-such-1.0-1.noarch.rpm",
		"/testing/nosuchrepo/repodata/repomd.xml",
		"/daily/baseos/repodata/repomd.xml",
		"/testing.log",
		"/testing.prev/baseos/repodata/repomd.xml",
		"/releases/"+f.rels[0]+"/baseos/repodata/repomd.xml",
		"/Testing/baseos/repodata/repomd.xml",
		"/testing/../channels/testing.log",
	)
	compare := func(t *testing.T, paths []string) {
		for _, p := range paths {
			want := fetch(t, goHandler.URL, p, nil)
			for _, s := range servers {
				got := fetch(t, s.url, p, nil)
				require.Equal(t, want.status, got.status, "%s %s (osflow's handler says %d)", s.name, p, want.status)
				require.Equal(t, want.body, got.body, "%s %s: different content", s.name, p)
			}
		}
	}
	t.Run("same answers as osflow's handler", func(t *testing.T) { compare(t, paths) })

	t.Run("cache headers", func(t *testing.T) {
		future := time.Now().Add(24 * time.Hour).UTC().Format(http.TimeFormat)
		for _, s := range servers {
			r := fetch(t, s.url, "/testing/baseos/repodata/repomd.xml", map[string]string{"If-Modified-Since": future})
			require.Equal(t, http.StatusOK, r.status, "%s: repomd.xml must never be answered 304", s.name)
			require.Equal(t, "no-cache", r.header.Get("Cache-Control"), s.name)
			require.Empty(t, r.header.Get("ETag"), s.name)
			for _, rel := range f.rels {
				for _, p := range f.files(t, rel) {
					if strings.HasPrefix(p, "repodata/") && p != "repodata/repomd.xml" {
						r := fetch(t, s.url, "/testing/baseos/"+p, nil)
						require.Equal(t, "public, max-age=31536000, immutable", r.header.Get("Cache-Control"), "%s %s", s.name, p)
					}
				}
			}
		}
	})

	t.Run("an unreadable audit log gives no fallback beyond .prev", func(t *testing.T) {
		logPath := filepath.Join(f.store.Root(), "channels", "testing.log")
		good, err := os.ReadFile(logPath)
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, os.WriteFile(logPath, good, 0o644)) })
		oldest := "/testing/baseos/" + f.files(t, f.rels[0])[0]
		require.Equal(t, http.StatusOK, fetch(t, goHandler.URL, oldest, nil).status, "found through the audit log")
		require.NoError(t, os.WriteFile(logPath, append(append([]byte{}, good...), "not json\n"...), 0o644))
		require.Equal(t, http.StatusNotFound, fetch(t, goHandler.URL, oldest, nil).status)
		compare(t, paths)
	})

	t.Run("dnf installs from the channel", func(t *testing.T) {
		for _, s := range servers {
			root := filepath.Join(f.dir, "node-"+s.name)
			dnf(t, s.url+"/testing/baseos/", root, "install", "hpc-web")
			out, err := exec.Command("rpm", "--root", root, "-q", "hpc-web").CombinedOutput()
			require.NoError(t, err, "%s", out)
			require.Equal(t, "hpc-web-1.2-1.noarch", strings.TrimSpace(string(out)), s.name)
		}
	})
}

// TestTreeCacheHeaders: a distribution tree's .treeinfo, like a
// variant's repomd.xml, its signature and its key, is never cached and
// always sent whole (no 304, no range); its images, whose names stay while
// their content changes, are revalidated on every use but never by date,
// and may be fetched by range; its packages may be cached. nginx and httpd
// answer as osflow's own handler does.
func TestTreeCacheHeaders(t *testing.T) {
	testtool.Need(t, "nginx", "apache2", "rpmbuild", "createrepo_c", "gpg")
	ctx := context.Background()
	f := emptyFixture(t)
	up := filepath.Join(f.dir, "upstream")
	_, err := upstream.BuildTree(ctx, upstream.TreeSpec{
		Images: map[string]string{
			"images/pxeboot/vmlinuz": "web test kernel", "images/pxeboot/initrd.img": "web test initrd", "images/install.img": "web test stage2",
		},
		Variants: map[string][]upstream.Spec{"AppStream": {{Name: "hpc-web-apps", Version: "1.0", Release: "1"}}},
	}, up)
	require.NoError(t, err)
	sign, err := upstream.NewSigner(ctx, filepath.Join(f.dir, "vendor"))
	require.NoError(t, err)
	t.Cleanup(func() { sign.Close() })
	require.NoError(t, sign.SignRepomd(ctx, filepath.Join(up, "AppStream")))
	key, err := os.Open(sign.PublicKey)
	require.NoError(t, err)
	keyring, err := rpmmd.ReadKeyring(key)
	key.Close()
	require.NoError(t, err)
	res, err := mirror.New(f.store, 4, zap.NewNop()).Sync(ctx,
		mirror.Source{Repo: "dist", URL: "file://" + up, Kind: mirror.KindTree, Keyring: keyring, RequireSignature: true}, nil)
	require.NoError(t, err)
	rel, _, err := f.store.CreateRelease(time.Now().UTC(), map[string]string{"dist": res.Snapshot.ID})
	require.NoError(t, err)
	_, err = f.store.Switch(ctx, repo.SwitchRequest{Channel: "testing", Release: rel.ID, Actor: "web-test", Reason: "tree"})
	require.NoError(t, err)
	rpms, err := filepath.Glob(filepath.Join(f.store.Root(), "channels", "testing", "dist", "AppStream", "*", "*.rpm"))
	require.NoError(t, err)
	require.Len(t, rpms, 1)
	rpm := "/testing/dist/AppStream/" + filepath.Base(filepath.Dir(rpms[0])) + "/" + filepath.Base(rpms[0])

	goHandler := httptest.NewServer(repo.Handler(f.store))
	t.Cleanup(goHandler.Close)
	servers := []server{{name: "osflow", url: goHandler.URL}, startNginx(t, f), startHTTPD(t, f)}
	future := map[string]string{"If-Modified-Since": time.Now().Add(24 * time.Hour).UTC().Format(http.TimeFormat)}
	firstBytes := map[string]string{"Range": "bytes=0-3"}
	pastUnmodified := map[string]string{"If-Unmodified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"}
	tests := []struct {
		path    string
		header  map[string]string
		status  int
		cache   string
		noETag  bool
		partial bool
		// nginxStatus, when set, is nginx's answer: it cannot drop a
		// request header for a static file, and answers a precondition
		// on a file it sends no validator for with 412.
		nginxStatus int
	}{
		{"/testing/dist/.treeinfo", future, http.StatusOK, "no-cache", true, false, 0},
		{"/testing/dist/.treeinfo", firstBytes, http.StatusOK, "no-cache", true, false, 0},
		{"/testing/dist/AppStream/repodata/repomd.xml", firstBytes, http.StatusOK, "no-cache", true, false, 0},
		{"/testing/dist/AppStream/repodata/repomd.xml.asc", future, http.StatusOK, "no-cache", true, false, 0},
		{"/testing/dist/AppStream/repodata/repomd.xml.key", future, http.StatusOK, "no-cache", true, false, 0},
		{"/testing/dist/AppStream/repodata/repomd.xml.key", firstBytes, http.StatusOK, "no-cache", true, false, 0},
		{"/testing/dist/images/install.img", future, http.StatusOK, "no-cache", true, false, 0},
		{"/testing/dist/images/pxeboot/vmlinuz", future, http.StatusOK, "no-cache", true, false, 0},
		{"/testing/dist/images/install.img", firstBytes, http.StatusPartialContent, "no-cache", true, true, 0},
		{rpm, nil, http.StatusOK, "", false, false, 0},
		{"/testing/dist/.treeinfo", pastUnmodified, http.StatusOK, "no-cache", true, false, http.StatusPreconditionFailed},
		{"/testing/dist/.treeinfo", map[string]string{"If-Match": `"x"`}, http.StatusOK, "no-cache", true, false, http.StatusPreconditionFailed},
		{"/testing/dist/images/install.img", pastUnmodified, http.StatusOK, "no-cache", true, false, http.StatusPreconditionFailed},
	}
	for _, s := range servers {
		for _, tt := range tests {
			r := fetch(t, s.url, tt.path, tt.header)
			status := tt.status
			if s.name == "nginx" && tt.nginxStatus != 0 {
				status = tt.nginxStatus
			}
			require.Equal(t, status, r.status, "%s %s %v", s.name, tt.path, tt.header)
			require.Equal(t, tt.cache, r.header.Get("Cache-Control"), "%s %s %v", s.name, tt.path, tt.header)
			if tt.noETag {
				require.Empty(t, r.header.Get("ETag"), "%s %s: revalidated by date", s.name, tt.path)
			}
			if tt.partial {
				require.Equal(t, "bytes 0-3/15", r.header.Get("Content-Range"), "%s %s", s.name, tt.path)
			}
		}
	}
}

type response struct {
	status int
	body   string
	header http.Header
}

// fetch GETs path exactly as written (no client-side cleaning of "..").
func fetch(t *testing.T, base, path string, header map[string]string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base, nil)
	require.NoError(t, err)
	req.URL.Opaque = path
	for k, v := range header {
		req.Header.Set(k, v)
	}
	client := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	require.NoError(t, err, "GET %s%s", base, path)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	body := string(b)
	if resp.StatusCode != http.StatusOK {
		body = "" // error pages differ between servers; the status is what counts
	}
	return response{status: resp.StatusCode, body: body, header: resp.Header}
}

// siteDir writes a deployed configuration file into a new directory
// DIR/site.conf, rewritten for the test: the store path, the script's
// installed path (to a copy of the script in DIR) and the listen address,
// each of which must still be in the file. It returns DIR.
//
// The script is copied, as an installation puts it in /etc: the servers'
// workers run as nobody when the test runs as root, and a checkout may
// sit in a directory only its owner can enter.
func siteDir(t *testing.T, f *fixture, name, file, script, installedScript, listen, testListen string) string {
	t.Helper()
	dir := filepath.Join(f.dir, name)
	require.NoError(t, os.MkdirAll(dir, 0o755))
	code, err := os.ReadFile(script)
	require.NoError(t, err)
	installed := filepath.Join(dir, script)
	require.NoError(t, os.WriteFile(installed, code, 0o644))
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	conf := string(b)
	for _, r := range [][2]string{{"/srv/osflow", f.store.Root()}, {installedScript, installed}, {listen, testListen}} {
		require.Contains(t, conf, r[0], "%s no longer says %q", file, r[0])
		conf = strings.ReplaceAll(conf, r[0], r[1])
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "site.conf"), []byte(conf), 0o644))
	return dir
}

// workersCanRead fails the test, naming the file and the directory in the
// way, when a web server's unprivileged workers could not read path: as
// root, nginx and httpd serve as nobody, who needs every directory above
// path searchable and path readable by others. As anyone else the workers
// run as the test's own user.
func workersCanRead(t *testing.T, server string, paths ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		return
	}
	for _, path := range paths {
		fi, err := os.Stat(path)
		require.NoError(t, err)
		need := os.FileMode(0o004)
		if fi.IsDir() {
			need = 0o005
		}
		require.Equal(t, need, fi.Mode().Perm()&need, "%s's workers (user nobody) cannot read %s: mode %04o", server, path, fi.Mode().Perm())
		for dir := filepath.Dir(path); ; dir = filepath.Dir(dir) {
			fi, err := os.Stat(dir)
			require.NoError(t, err)
			require.NotZero(t, fi.Mode().Perm()&0o001, "%s's workers (user nobody) cannot read %s: directory %s is mode %04o",
				server, path, dir, fi.Mode().Perm())
			if dir == filepath.Dir(dir) {
				break
			}
		}
	}
}

func startNginx(t *testing.T, f *fixture) server {
	t.Helper()
	port := freePort(t)
	dir := siteDir(t, f, "nginx", "nginx-osflow-channels.conf", "osflow-channels.js", "/etc/nginx/njs/osflow-channels.js",
		"listen 80;", "listen 127.0.0.1:"+port+";")
	// The master reads the script with the configuration; the workers serve the store.
	workersCanRead(t, "nginx", f.store.Root())
	conf := filepath.Join(dir, "nginx.conf")
	require.NoError(t, os.WriteFile(conf, []byte(fmt.Sprintf(`daemon off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
load_module /usr/lib/nginx/modules/ngx_http_js_module.so;
events { worker_connections 64; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log %[1]s/access.log;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    include %[1]s/site.conf;
}
`, dir)), 0o644))
	args := []string{"-p", dir, "-c", conf, "-e", filepath.Join(dir, "error.log")}
	out, err := exec.Command("nginx", append([]string{"-t"}, args...)...).CombinedOutput()
	require.NoError(t, err, "nginx -t:\n%s", out)
	require.Contains(t, string(out), "test is successful")
	run(t, "nginx", filepath.Join(dir, "error.log"), port, exec.Command("nginx", args...), syscall.SIGQUIT)
	return server{name: "nginx", url: "http://127.0.0.1:" + port}
}

func startHTTPD(t *testing.T, f *fixture) server {
	t.Helper()
	port := freePort(t)
	dir := siteDir(t, f, "httpd", "httpd-osflow-channels.conf", "osflow-channels.lua", "/etc/apache2/osflow-channels.lua",
		"<VirtualHost *:80>", "<VirtualHost *:"+port+">")
	// mod_lua loads the script in the workers, at the first request.
	workersCanRead(t, "httpd", filepath.Join(dir, "osflow-channels.lua"), f.store.Root())
	var user string
	if os.Geteuid() == 0 {
		user = "User nobody\nGroup nogroup\n"
	}
	mods := "/usr/lib/apache2/modules/"
	conf := filepath.Join(dir, "httpd.conf")
	require.NoError(t, os.WriteFile(conf, []byte(fmt.Sprintf(`ServerRoot %[1]s
ServerName 127.0.0.1
Listen 127.0.0.1:%[2]s
PidFile %[1]s/httpd.pid
DefaultRuntimeDir %[1]s
Mutex file:%[1]s default
ErrorLog %[1]s/error.log
LogLevel warn
%[3]sLoadModule mpm_event_module %[4]smod_mpm_event.so
LoadModule authz_core_module %[4]smod_authz_core.so
LoadModule mime_module %[4]smod_mime.so
LoadModule autoindex_module %[4]smod_autoindex.so
LoadModule headers_module %[4]smod_headers.so
LoadModule lua_module %[4]smod_lua.so
TypesConfig /etc/mime.types
Include %[1]s/site.conf
`, dir, port, user, mods)), 0o644))
	out, err := exec.Command("apache2", "-t", "-f", conf).CombinedOutput()
	require.NoError(t, err, "apache2 -t:\n%s", out)
	require.Contains(t, string(out), "Syntax OK")
	run(t, "httpd", filepath.Join(dir, "error.log"), port, exec.Command("apache2", "-f", conf, "-DFOREGROUND"), syscall.SIGTERM)
	return server{name: "httpd", url: "http://127.0.0.1:" + port}
}

// run starts a server in the foreground, waits until it accepts
// connections, and stops it with stopSig when the test ends.
func run(t *testing.T, name, errorLog, port string, cmd *exec.Cmd, stopSig syscall.Signal) {
	t.Helper()
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	require.NoError(t, cmd.Start())
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(stopSig)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			b, _ := os.ReadFile(errorLog)
			t.Logf("%s error log:\n%s\n%s", name, b, out.String())
		}
	})
	require.Eventually(t, func() bool {
		select {
		case <-done:
			return true // reported below
		default:
		}
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, 200*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, 20*time.Second, 50*time.Millisecond, "%s never listened on %s", name, port)
	select {
	case <-done:
		b, _ := os.ReadFile(errorLog)
		t.Fatalf("%s exited at start:\n%s\n%s", name, b, out.String())
	default:
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// dnf installs into root from one repo at url, and nothing else.
func dnf(t *testing.T, url, root string, args ...string) {
	t.Helper()
	reposd := root + "-repos.d"
	require.NoError(t, os.MkdirAll(reposd, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(reposd, "osflow.repo"),
		[]byte("[osflow-testing-baseos]\nname=osflow testing baseos\nbaseurl="+url+"\ngpgcheck=0\nenabled=1\n"), 0o644))
	full := append([]string{
		"--installroot=" + root, "--releasever=9", "--setopt=reposdir=" + reposd,
		"--setopt=cachedir=" + root + "-cache", "--refresh",
		"--setopt=install_weak_deps=False", "--nogpgcheck", "--assumeyes", "--noplugins",
	}, args...)
	out, err := exec.Command("dnf", full...).CombinedOutput()
	require.NoError(t, err, "dnf %s: %s", strings.Join(args, " "), out)
}
