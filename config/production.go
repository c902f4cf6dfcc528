package config

import (
	"fmt"
	"strings"
	"time"

	"github.com/osflow/osflow/internal/approvalsig"
)

// Production is the production phase: who approves an outage, what is
// verified inside it, and what management sees before it.
type Production struct {
	// Approvers may approve or reject an outage (approve-outage,
	// reject-outage); names as operators give them with --as. Required
	// when the production key is given or a bypass requires approval:
	// with none, a promotion waits for an approver nobody can be. An
	// entry may be an OpenSSH allowed_signers line, "NAME KEYTYPE KEY
	// [COMMENT]": once loaded, Approvers holds its name and ApproverKeys
	// its key.
	Approvers []string `yaml:"approvers"`
	// ApproverKeys maps an approver's name to their public key, in
	// authorized_keys form, from the allowed_signers lines of approvers.
	ApproverKeys map[string]string `yaml:"-"`
	// RequireSignedApprovals makes an approval, a rejection and a proceed
	// carry a statement signed with the approver's key
	// (ssh-keygen -Y sign -n osflow-approval); every approver then needs
	// a key.
	RequireSignedApprovals bool `yaml:"requireSignedApprovals"`
	// RemindEvery repeats the notification of a promotion waiting for its
	// approval. Default 24h; 0s turns reminders off.
	RemindEvery Duration `yaml:"remindEvery"`
	// Verify lists the testing.suites run against production at the end
	// of the outage. Default: every testing suite.
	Verify []string `yaml:"verify"`
	// UserTickets is where production users' input is: tickets with a
	// label on the main tracker, or a tracker of their own.
	UserTickets *UserTickets `yaml:"userTickets"`
	// Inventory lists facts of the production cluster compared, by name,
	// with testing.inventory in the risk report.
	Inventory []InventoryItem `yaml:"inventory"`
	// Window is the default length of an outage window when the approver
	// gives only its start. Default: twice the candidate's estimate, at
	// least 1h.
	Window Duration `yaml:"window"`
}

// UserTickets is one of: a label on the main tracker, or a directory of
// tickets (a file tracker of their own), or GitHub issues.
type UserTickets struct {
	Label  string         `yaml:"label"`
	Dir    string         `yaml:"dir"`
	GitHub *GitHubTickets `yaml:"github"`
}

// InventoryItem is one fact about a cluster: the content of a file or the
// output of a command, run on the worker.
type InventoryItem struct {
	Name    string   `yaml:"name"`
	File    string   `yaml:"file"`
	Command []string `yaml:"command"`
}

// MayApprove reports whether name is one of the approvers.
func (p Production) MayApprove(name string) bool {
	for _, a := range p.Approvers {
		if a == name {
			return true
		}
	}
	return false
}

func (d *decoder) productionDefaults(c *Config) {
	if !d.given("production.remindEvery") {
		c.Production.RemindEvery = Duration{24 * time.Hour}
	}
	if u := c.Production.UserTickets; u != nil && u.GitHub != nil {
		if u.GitHub.TokenEnv == "" {
			u.GitHub.TokenEnv = "GITHUB_TOKEN"
		}
		if u.GitHub.Label == "" {
			u.GitHub.Label = "osflow"
		}
	}
}

func (d *decoder) productionResolve(c *Config, abs func(p *string, path string)) {
	if u := c.Production.UserTickets; u != nil {
		abs(&u.Dir, "production.userTickets.dir")
		if u.GitHub != nil {
			abs(&u.GitHub.TokenFile, "production.userTickets.github.tokenFile")
		}
	}
	for _, inv := range []struct {
		path  string
		items []InventoryItem
	}{{"production.inventory", c.Production.Inventory}, {"testing.inventory", c.Testing.Inventory}} {
		for i := range inv.items {
			abs(&inv.items[i].File, fmt.Sprintf("%s[%d].file", inv.path, i))
		}
	}
}

func (d *decoder) checkProduction(c *Config) {
	p := c.Production
	// A promotion, or a bypass that needs approval, waits for one of the
	// approvers: with none, it would wait for ever.
	if len(p.Approvers) == 0 && d.given("production") {
		d.errorf("production.approvers", "required: who may approve an outage (a promotion waits for one of them)")
	}
	for i, r := range c.Repos {
		if r.Bypass != nil && r.Bypass.RequireApproval && len(p.Approvers) == 0 {
			d.errorf(fmt.Sprintf("repos[%d].bypass.requireApproval", i), "needs production.approvers: a bypass would wait for an approver nobody can be")
		}
	}
	for i, a := range p.Approvers {
		if strings.TrimSpace(a) != a || a == "" || strings.ContainsFunc(a, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			d.errorf(fmt.Sprintf("production.approvers[%d]", i), "%q: a name is one line without surrounding spaces", a)
		}
	}
	d.approverKeys(&c.Production)
	d.nonNegative("production.remindEvery", p.RemindEvery)
	d.nonNegative("production.window", p.Window)
	suites := map[string]bool{}
	for _, s := range c.Testing.Suites {
		suites[s.Name] = true
	}
	for i, v := range p.Verify {
		if !suites[v] {
			d.errorf(fmt.Sprintf("production.verify[%d]", i), "%q is not one of testing.suites", v)
		}
	}
	if u := p.UserTickets; u != nil {
		d.exactlyOne("production.userTickets", choice{"label", u.Label != ""}, choice{"dir", u.Dir != ""}, choice{"github", u.GitHub != nil})
		if g := u.GitHub; g != nil {
			if !githubRepoRE.MatchString(g.Repo) {
				d.errorf("production.userTickets.github.repo", "%q is not owner/name", g.Repo)
			}
			d.normURL("production.userTickets.github.baseURL", &g.BaseURL, "http", "https")
			d.checkSecret("production.userTickets.github.token", g.TokenEnv, g.TokenFile)
		}
	}
	d.checkInventory("production.inventory", p.Inventory)
	d.checkInventory("testing.inventory", c.Testing.Inventory)
}

// approverKeys splits the allowed_signers lines among the approvers into
// names and keys, and checks that every approver has a key when signed
// approvals are required.
func (d *decoder) approverKeys(p *Production) {
	seen := map[string]int{}
	for i, a := range p.Approvers {
		path := fmt.Sprintf("production.approvers[%d]", i)
		if approvalsig.LooksLikeSigner(a) {
			s, err := approvalsig.ParseSigner(a)
			if err != nil {
				d.errorf(path, "%v", err)
				continue
			}
			if p.ApproverKeys == nil {
				p.ApproverKeys = map[string]string{}
			}
			p.Approvers[i], p.ApproverKeys[s.Name] = s.Name, s.Key
		}
		if j, dup := seen[p.Approvers[i]]; dup {
			d.errorf(path, "%q is also production.approvers[%d]", p.Approvers[i], j)
		}
		seen[p.Approvers[i]] = i
	}
	if !p.RequireSignedApprovals {
		return
	}
	for i, a := range p.Approvers {
		if _, ok := p.ApproverKeys[a]; !ok {
			d.errorf(fmt.Sprintf("production.approvers[%d]", i), "%q has no key, and production.requireSignedApprovals is true: "+
				"give their allowed_signers line (%s ssh-ed25519 AAAA…)", a, a)
		}
	}
}

func (d *decoder) checkInventory(path string, items []InventoryItem) {
	seen := map[string]string{}
	for i, it := range items {
		p := fmt.Sprintf("%s[%d]", path, i)
		d.checkName(p, "inventory item", it.Name, seen)
		d.exactlyOne(p, choice{"file", it.File != ""}, choice{"command", len(it.Command) > 0})
		d.checkArgv(p+".command", it.Command)
	}
}
