package tests

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/osflow/osflow/integrations/repo/upstream"
	"github.com/osflow/osflow/internal/testtool"
	"github.com/osflow/osflow/workflows"
)

// browser is a headless Chromium reading the dev server's Web UI for one
// test, saving a screenshot of every page it checks.
type browser struct {
	t         *testing.T
	ctx       context.Context
	namespace string
	// artifacts is where the screenshots go.
	artifacts string
}

// newBrowser starts Debian's chromium, headless, driven over the DevTools
// protocol: no browser is downloaded.
func newBrowser(t *testing.T, namespace string) *browser {
	t.Helper()
	if webUI == "" {
		t.Skip("the Web UI runs with the tests' dev server, not on a cluster")
	}
	testtool.Need(t, "chromium")
	path, err := exec.LookPath("chromium")
	require.NoError(t, err)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		// Root in a container has no user namespace to sandbox in.
		chromedp.NoSandbox,
		chromedp.WindowSize(1400, 1200),
		chromedp.Flag("disable-dev-shm-usage", true),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	require.NoError(t, chromedp.Do(ctx), "start chromium")
	artifacts, err := filepath.Abs(filepath.Join("..", ".osflow", "artifacts", t.Name()))
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(artifacts, 0o755))
	t.Logf("screenshots of the Web UI in %s", artifacts)
	return &browser{t: t, ctx: ctx, namespace: namespace, artifacts: artifacts}
}

// documents are the page's document and those of its frames: the Web UI
// renders user metadata's Markdown in frames of its own origin.
const documents = `[document, ...Array.from(document.querySelectorAll('iframe')).map(f => f.contentDocument).filter(d => d && d.body)]`

// pageText is the text of the page and its frames, as a reader sees it.
const pageText = documents + `.map(d => d.body.innerText).join("\n")`

// open loads a page of the namespace and waits, with a deadline, until the
// page's text contains every one of want; then it saves a screenshot as
// name.png and returns the page's text.
func (b *browser) open(name, path string, want ...string) string {
	b.t.Helper()
	return b.openURL(name, webUI+"/namespaces/"+b.namespace+path, want...)
}

// openURL is open with the page's whole address.
func (b *browser) openURL(name, page string, want ...string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	cond := "true"
	for _, w := range want {
		cond += fmt.Sprintf(" && (%s).includes(%q)", pageText, w)
	}
	err := chromedp.Do(ctx, chromedp.Navigate(page))
	if err == nil {
		_, err = chromedp.Run(ctx, chromedp.Poll[chromedp.Void](cond, chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(0)))
	}
	// The page as it is, whether or not it came right: the screenshot
	// shows a failure too.
	png, _ := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	text, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](pageText))
	b.save(name, png)
	require.NoError(b.t, err, "%s never showed %q; it shows:\n%s", page, want, text)
	return text
}

func (b *browser) save(name string, png []byte) {
	b.t.Helper()
	if len(png) == 0 {
		return
	}
	file := filepath.Join(b.artifacts, name+".png")
	require.NoError(b.t, os.WriteFile(file, png, 0o644))
	b.t.Logf("screenshot: %s", file)
}

// link is the address the link labelled label on the current page goes
// to, as a reader clicks it (the tabs of a workflow's page).
func (b *browser) link(label string) string {
	b.t.Helper()
	href, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](fmt.Sprintf(
		`(Array.from(document.querySelectorAll('a')).find(a => a.innerText.trim().startsWith(%q)) || {href: ""}).href`, label)))
	require.NoError(b.t, err)
	require.NotEmpty(b.t, href, "the page has a link %q", label)
	return href
}

// texts is the text of every element that matches the CSS selector, as a
// reader would copy it.
func (b *browser) texts(selector string) []string {
	b.t.Helper()
	got, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]string](
		fmt.Sprintf(`%s.flatMap(d => Array.from(d.querySelectorAll(%q))).map(e => e.innerText)`, documents, selector)))
	require.NoError(b.t, err)
	return got
}

// TestWebUIShowsPromotions reads the Temporal Web UI as a manager does, in
// a real browser: the workflows list filtered by a search attribute shows
// the promotion waiting for approval; its page shows what it waits for
// with the approve command exactly as the CLI takes it (Markdown once
// turned "--as" into an en dash); once rejected, the page shows a failed
// workflow with the reason, not a green "Completed".
func TestWebUIShowsPromotions(t *testing.T) {
	b := newBrowser(t, "e2e-webui")
	s := newSite(t, "e2e-webui", map[string][]upstream.Spec{"baseos": {spec("hpc-base", "1.0")}}, passingSmoke+`outage:
  tasks:
    - name: drain
      command: ["sh", "-c", "echo draining $OSFLOW_CHANNEL; sleep 1"]
      expected: 5m
production:
  approvers: [alice, bob]
`)
	r1 := s.sync().Release
	p := s.promotionAwaitingApproval(r1)
	_, err := s.osflow("comment", p, "the users of node17 ask for Tuesday", "--as", "dave")
	require.NoError(t, err)
	approve := fmt.Sprintf("osflow approve %s --as NAME --window-start TIME", p)

	// The list, filtered as a manager does for "waiting for approval".
	query := url.QueryEscape(fmt.Sprintf("%s=%q", workflows.AttrPhase.GetName(), workflows.PhaseAwaitingApproval))
	list := b.open("list-awaiting-approval", "/workflows?query="+query, p)
	require.NotContains(t, list, workflows.TestCycleWorkflowID, "the filter leaves out what does not wait for approval")

	// The waiting promotion's page: the release, what it waits for, and
	// the command as typed.
	desc, err := s.client.DescribeWorkflowExecution(context.Background(), p, "")
	require.NoError(t, err)
	run := desc.GetWorkflowExecutionInfo().GetExecution().GetRunId()
	b.open("promotion-history", "/workflows/"+p+"/"+run+"/history", workflows.PromotionMetadata(r1).Summary, "User Metadata")
	page := b.openURL("promotion-waiting", b.link("User Metadata"), "Waiting for:", approve, "the users of node17 ask for Tuesday")
	var blocks []string
	for _, c := range b.texts("pre") {
		blocks = append(blocks, strings.TrimSuffix(c, "\n")) // the line's end, as a copied block has it
	}
	require.Contains(t, blocks, approve, "the approve command, copied from the page, is the one the CLI takes")
	require.NotContains(t, page, "–as", "no en dash where the command says --as")
	out, err := s.osflow(strings.Fields(strings.ReplaceAll(strings.ReplaceAll(approve, "NAME", "mallory"), "TIME", "now"))[1:]...)
	require.ErrorContains(t, err, `"mallory" may not approve`, "the copied command reaches the promotion's validator: %s", out)

	// Rejected: the page shows a failed workflow, with who and why.
	_, err = s.osflow("reject", p, "--as", "bob", "--comment", "not before the conference")
	require.NoError(t, err)
	require.ErrorContains(t, waitWorkflow(t, s, p), "rejected by bob")
	b.open("promotion-rejected", "/workflows/"+p+"/"+run+"/history", "Failed", "was rejected by bob", "not before the conference")
	query = url.QueryEscape(fmt.Sprintf("%s=%q", workflows.AttrApproval.GetName(), workflows.ApprovalRejected))
	b.open("list-rejected", "/workflows?query="+query, p)
	recordHistory(t, s.client, p, run, "promotion-v4-rejected")
}
