package ci

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// fakeJenkins follows Jenkins' remote access API as far as Jenkins does:
//
//   - every request needs HTTP basic auth with a known user and API token
//     (401 otherwise; 403 for a user without the Job/Build permission);
//   - GET /crumbIssuer/api/json issues a crumb bound to a new web session
//     (JSESSIONID cookie); 404 when CSRF protection is off;
//   - POST /job/<a>/job/<b>/buildWithParameters needs the crumb header of
//     its session (403 "No valid crumb was included in the request"), and
//     answers 201 with Location: <root>/queue/item/<id>/; an unknown job is
//     404, a GET is 405;
//   - GET /queue/item/<id>/api/json: a waiting item ("why"), then a left
//     item with "executable" {number, url}, or "cancelled": true; a
//     forgotten item is 404;
//   - GET /job/.../<n>/api/json: "building" true and "result" null until
//     the build ends;
//   - GET /job/.../<n>/testReport/api/json: suites[].cases[], or 404 when
//     the build published no test results.
//
// Each triggered build follows script.
type fakeJenkins struct {
	t      *testing.T
	srv    *httptest.Server
	tokens map[string]string // user -> API token
	// readOnly users authenticate but may not build (403).
	readOnly map[string]bool
	csrf     bool
	jobs     map[string]bool // "folder/name"
	script   fakeScript

	mu          sync.Mutex
	sessions    map[string]string // JSESSIONID -> crumb
	crumbs      int               // crumbs issued
	expireOnce  bool              // the next POST's session has expired
	alwaysStale bool              // every session has expired by the POST
	fail        map[string]int    // path prefix -> how many more 503s
	posts       int               // buildWithParameters requests, accepted or not
	params      []map[string]string
	items       map[int]*fakeItem
	builds      map[string]*fakeBuild // build path "/job/.../<n>/"
	nextItem    int
	nextBuild   int
}

// fakeScript is how each triggered build goes.
type fakeScript struct {
	queuePolls int    // polls of the queue item before the build starts
	cancel     bool   // the item is cancelled in the queue instead
	expire     bool   // the item is forgotten (404) instead
	buildPolls int    // polls of the build while it runs
	result     string // SUCCESS, UNSTABLE, FAILURE, ABORTED, NOT_BUILT
	report     []fakeCase
	noReport   bool
}

type fakeCase struct {
	ClassName       string  `json:"className"`
	Name            string  `json:"name"`
	Status          string  `json:"status"`
	ErrorDetails    *string `json:"errorDetails"`
	ErrorStackTrace *string `json:"errorStackTrace"`
	Duration        float64 `json:"duration"`
}

type fakeItem struct {
	job   string
	polls int
	build string // build path once started
	num   int
}

type fakeBuild struct {
	polls  int
	script fakeScript
}

func newFakeJenkins(t *testing.T, script fakeScript) *fakeJenkins {
	f := &fakeJenkins{
		t:         t,
		tokens:    map[string]string{"osflow": "api-token"},
		readOnly:  map[string]bool{},
		csrf:      true,
		jobs:      map[string]bool{"osflow/el9-integration": true, "smoke": true},
		script:    script,
		sessions:  map[string]string{},
		fail:      map[string]int{},
		items:     map[int]*fakeItem{},
		builds:    map[string]*fakeBuild{},
		nextItem:  100,
		nextBuild: 41,
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

var (
	fakeJobPath   = regexp.MustCompile(`^((?:/job/[^/]+)+)/buildWithParameters$`)
	fakeBuildPath = regexp.MustCompile(`^((?:/job/[^/]+)+/\d+/)(api/json|testReport/api/json)$`)
	fakeItemPath  = regexp.MustCompile(`^/queue/item/(\d+)/api/json$`)
)

func (f *fakeJenkins) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for prefix, n := range f.fail {
		if n > 0 && strings.HasPrefix(r.URL.Path, prefix) {
			f.fail[prefix] = n - 1
			http.Error(w, "Service Unavailable", http.StatusServiceUnavailable)
			return
		}
	}
	user, token, ok := r.BasicAuth()
	if !ok || f.tokens[user] == "" || f.tokens[user] != token {
		w.Header().Set("WWW-Authenticate", `Basic realm="Jenkins"`)
		http.Error(w, "Unauthorized", http.StatusUnauthorized)
		return
	}
	path := r.URL.Path
	switch {
	case path == "/crumbIssuer/api/json":
		f.issueCrumb(w)
	case fakeJobPath.MatchString(path):
		f.build(w, r, fakeJobPath.FindStringSubmatch(path)[1], user)
	case fakeItemPath.MatchString(path):
		id, _ := strconv.Atoi(fakeItemPath.FindStringSubmatch(path)[1])
		f.queueItem(w, id)
	case fakeBuildPath.MatchString(path):
		m := fakeBuildPath.FindStringSubmatch(path)
		f.buildInfo(w, m[1], m[2] == "testReport/api/json")
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeJenkins) issueCrumb(w http.ResponseWriter) {
	if !f.csrf {
		http.Error(w, "Not Found", http.StatusNotFound)
		return
	}
	f.crumbs++
	session := fmt.Sprintf("node0session%d", f.crumbs)
	crumb := fmt.Sprintf("%064x", f.crumbs)
	f.sessions[session] = crumb
	http.SetCookie(w, &http.Cookie{Name: "JSESSIONID.abcd1234", Value: session, Path: "/", HttpOnly: true})
	writeJSON(w, map[string]any{
		"_class":            "hudson.security.csrf.DefaultCrumbIssuer",
		"crumb":             crumb,
		"crumbRequestField": "Jenkins-Crumb",
	})
}

func (f *fakeJenkins) build(w http.ResponseWriter, r *http.Request, jobPath, user string) {
	if r.Method != http.MethodPost {
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	f.posts++
	job := strings.ReplaceAll(strings.TrimPrefix(jobPath, "/job/"), "/job/", "/")
	if !f.jobs[job] {
		http.Error(w, "Not Found", http.StatusNotFound)
		return
	}
	if f.readOnly[user] {
		http.Error(w, user+" is missing the Job/Build permission", http.StatusForbidden)
		return
	}
	if f.csrf {
		c, err := r.Cookie("JSESSIONID.abcd1234")
		valid := err == nil && f.sessions[c.Value] != "" && r.Header.Get("Jenkins-Crumb") == f.sessions[c.Value]
		if valid && (f.expireOnce || f.alwaysStale) {
			f.expireOnce = false
			delete(f.sessions, c.Value)
			valid = false
		}
		if !valid {
			http.Error(w, "HTTP ERROR 403 No valid crumb was included in the request", http.StatusForbidden)
			return
		}
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	params := map[string]string{}
	for k := range r.PostForm {
		params[k] = r.PostForm.Get(k)
	}
	f.params = append(f.params, params)
	f.nextItem++
	f.items[f.nextItem] = &fakeItem{job: jobPath}
	w.Header().Set("Location", fmt.Sprintf("%s/queue/item/%d/", f.srv.URL, f.nextItem))
	w.WriteHeader(http.StatusCreated)
}

func (f *fakeJenkins) queueItem(w http.ResponseWriter, id int) {
	item := f.items[id]
	if item == nil {
		http.Error(w, "Not Found", http.StatusNotFound)
		return
	}
	item.polls++
	switch {
	case item.build == "" && item.polls <= f.script.queuePolls:
		writeJSON(w, map[string]any{"_class": "hudson.model.Queue$WaitingItem", "id": id, "why": "In the quiet period. Expires in 4.9 sec", "cancelled": false})
		return
	case f.script.cancel:
		writeJSON(w, map[string]any{"_class": "hudson.model.Queue$LeftItem", "id": id, "cancelled": true, "executable": nil})
		return
	case f.script.expire:
		delete(f.items, id)
		http.Error(w, "Not Found", http.StatusNotFound)
		return
	}
	if item.build == "" {
		f.nextBuild++
		item.num = f.nextBuild
		item.build = fmt.Sprintf("%s/%d/", item.job, item.num)
		f.builds[item.build] = &fakeBuild{script: f.script}
	}
	writeJSON(w, map[string]any{
		"_class": "hudson.model.Queue$LeftItem", "id": id, "cancelled": false,
		"executable": map[string]any{"_class": "hudson.model.FreeStyleBuild", "number": item.num, "url": "https://jenkins.invalid" + item.build},
	})
}

func (f *fakeJenkins) buildInfo(w http.ResponseWriter, path string, report bool) {
	b := f.builds[path]
	if b == nil {
		http.Error(w, "Not Found", http.StatusNotFound)
		return
	}
	if !report {
		b.polls++
		running := b.polls <= b.script.buildPolls
		var result any
		if !running {
			result = b.script.result
		}
		writeJSON(w, map[string]any{"_class": "hudson.model.FreeStyleBuild", "building": running, "result": result})
		return
	}
	if b.script.noReport || b.polls <= b.script.buildPolls {
		http.Error(w, "Not Found", http.StatusNotFound)
		return
	}
	writeJSON(w, map[string]any{
		"_class": "hudson.tasks.junit.TestResult",
		"suites": []any{map[string]any{"name": "integration", "cases": b.script.report}},
	})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	json.NewEncoder(w).Encode(v)
}

// counts returns how many builds were requested and crumbs issued.
func (f *fakeJenkins) counts() (posts, crumbs int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.posts, f.crumbs
}
