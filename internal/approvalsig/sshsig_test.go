package approvalsig

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/osflow/osflow/internal/testtool"
)

func TestCheck(t *testing.T) {
	ctx := context.Background()
	aliceKey, bobKey, keys := aliceAndBob(t, "ecdsa")
	start := time.Date(2026, 12, 8, 20, 0, 0, 0, time.FixedZone("CET", 3600))
	want := Statement{Workflow: "promotion-r1", Release: "r1", Decision: DecisionApprove,
		WindowStart: start, WindowEnd: start.Add(4 * time.Hour), Comment: "go"}
	signed := func(key string, s Statement) string {
		sig, err := Sign(ctx, key, s.Text())
		require.NoError(t, err)
		return sig
	}
	with := func(f func(*Statement)) Statement {
		s := want
		s.Nonce = "n1"
		f(&s)
		return s
	}
	good := with(func(*Statement) {})
	goodSig := signed(aliceKey, good)
	otherNS, err := exec.Command("sh", "-c", `printf %s "$1" > "$2/m" && ssh-keygen -Y sign -q -f "$3" -n git "$2/m" && cat "$2/m.sig"`,
		"sh", good.Text(), t.TempDir(), aliceKey).Output()
	require.NoError(t, err)
	unused := func(string) bool { return false }
	for _, tc := range []struct {
		name      string
		by        string
		statement string
		sig       string
		used      func(string) bool
		err       string
	}{
		{"good", "alice", good.Text(), goodSig, unused, ""},
		{"good ecdsa", "bob", good.Text(), signed(bobKey, good), unused, ""},
		{"wrong key for the statement", "alice", good.Text(), signed(aliceKey, with(func(s *Statement) { s.Nonce = "n2" })), unused, "the signature of alice does not verify: the signature does not match the statement"},
		{"another person's key", "alice", good.Text(), signed(bobKey, good), unused, "signed with the key of bob (SHA256:"},
		{"another release", "alice", with(func(s *Statement) { s.Release = "r0" }).Text(), signed(aliceKey, with(func(s *Statement) { s.Release = "r0" })), unused, `the statement is for release "r0", this request is for "r1"`},
		{"another window", "alice", with(func(s *Statement) { s.WindowEnd = start.Add(8 * time.Hour) }).Text(), "", unused, `the statement is for window-end "2026-12-09T03:00:00Z", this request is for "2026-12-08T23:00:00Z"`},
		{"another workflow", "alice", with(func(s *Statement) { s.Workflow = "promotion-r2" }).Text(), goodSig, unused, `the statement is for workflow "promotion-r2"`},
		{"another decision", "alice", with(func(s *Statement) { s.Decision = DecisionReject }).Text(), goodSig, unused, `the statement is for decision "reject"`},
		{"replay", "alice", good.Text(), goodSig, func(n string) bool { return n == "n1" }, `replayed: nonce "n1" was already used in promotion-r1`},
		{"missing", "alice", "", "", unused, "a signed statement is required"},
		{"no key", "carol", good.Text(), goodSig, unused, `"carol" has no key in production.approvers`},
		{"malformed armor", "alice", good.Text(), strings.Replace(goodSig, "-----END SSH SIGNATURE-----", "", 1), unused, "malformed signature: it does not end with"},
		{"malformed base64", "alice", good.Text(), "-----BEGIN SSH SIGNATURE-----\nnot base64!\n-----END SSH SIGNATURE-----\n", unused, "malformed signature: illegal base64"},
		{"other namespace", "alice", good.Text(), string(otherNS), unused, `signed in namespace "git", not "osflow-approval"`},
		{"malformed statement", "alice", "approve r1\n", goodSig, unused, "not an osflow statement"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sig := tc.sig
			if sig == "" && tc.statement != "" {
				sig = goodSig
			}
			v, err := Check(keys, Decision{By: tc.by, Statement: tc.statement, Signature: sig}, want, tc.used)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, "n1", v.Nonce)
			require.True(t, strings.HasPrefix(v.Fingerprint, "SHA256:"), v.Fingerprint)
		})
	}
}

func TestParseSigner(t *testing.T) {
	_, line := testtool.SSHKey(t, "alice", "ed25519")
	name, key, _ := strings.Cut(line, " ")
	for _, tc := range []struct {
		name, line, err string
	}{
		{"plain", line, ""},
		{"namespaces", name + ` namespaces="git,osflow-approval" ` + key, ""},
		{"other namespace", name + ` namespaces="git" ` + key, "its namespaces (\"git\") exclude osflow-approval"},
		{"other option", name + ` valid-after="20260101" ` + key, `option "valid-after=\"20260101\"" is not supported`},
		{"pattern", "*@example " + key, "without patterns or commas"},
		{"bad key", name + " ssh-ed25519 AAAAnotakey", "the key of \"alice\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.True(t, LooksLikeSigner(tc.line))
			s, err := ParseSigner(tc.line)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, "alice", s.Name)
			require.True(t, strings.HasPrefix(s.Key, "ssh-ed25519 AAAA"), s.Key)
		})
	}
	require.False(t, LooksLikeSigner("Alice Smith"))
}

func TestStatementRoundTrip(t *testing.T) {
	s := Statement{Workflow: "promotion-r1", Release: "r1", Decision: DecisionReject, Comment: "not now: the users", Nonce: "x"}
	require.Equal(t, "osflow decision v1\nworkflow: promotion-r1\nrelease: r1\ndecision: reject\nwindow-start: -\nwindow-end: -\ncomment: not now: the users\nnonce: x\n", s.Text())
	got, err := Parse(s.Text())
	require.NoError(t, err)
	require.Equal(t, s, got)
}

// TestCheckBypass: a bypass's statement names its overlay and packages,
// and is refused for another bypass, another set of packages, or as a
// promotion's statement.
func TestCheckBypass(t *testing.T) {
	ctx := context.Background()
	aliceKey, bobKey, keys := aliceAndBob(t, "ed25519")
	want := Statement{Workflow: "bypass-1", Overlay: "site", Packages: []string{"openssl-3.0.2-1.x86_64", "openssl-libs-3.0.2-1.x86_64"},
		Decision: DecisionApprove, Comment: "CVE"}
	with := func(f func(*Statement)) Statement {
		s := want
		s.Nonce = "n1"
		f(&s)
		return s
	}
	unused := func(string) bool { return false }
	for _, tc := range []struct {
		name, by, key string
		statement     Statement
		used          func(string) bool
		err           string
	}{
		{"good", "alice", aliceKey, with(func(*Statement) {}), unused, ""},
		{"another person's key", "alice", bobKey, with(func(*Statement) {}), unused, "signed with the key of bob"},
		{"other packages", "alice", aliceKey, with(func(s *Statement) { s.Packages = s.Packages[:1] }), unused,
			`the statement is for packages "openssl-3.0.2-1.x86_64", this request is for "openssl-3.0.2-1.x86_64 openssl-libs-3.0.2-1.x86_64"`},
		{"another bypass", "alice", aliceKey, with(func(s *Statement) { s.Workflow = "bypass-2" }), unused, `the statement is for workflow "bypass-2"`},
		{"another overlay", "alice", aliceKey, with(func(s *Statement) { s.Overlay = "vendor" }), unused, `the statement is for overlay "vendor"`},
		{"a promotion's statement", "alice", aliceKey, with(func(s *Statement) { s.Overlay, s.Packages, s.Release = "", nil, "r1" }), unused,
			`the statement is "osflow decision v1", this request wants "osflow bypass decision v1"`},
		{"replay", "alice", aliceKey, with(func(*Statement) {}), func(n string) bool { return n == "n1" }, `replayed: nonce "n1"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sig, err := Sign(ctx, tc.key, tc.statement.Text())
			require.NoError(t, err)
			v, err := Check(keys, Decision{By: tc.by, Statement: tc.statement.Text(), Signature: sig}, want, tc.used)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, "n1", v.Nonce)
		})
	}
	_, err := Check(keys, Decision{By: "alice"}, want, unused)
	require.ErrorContains(t, err, "a signed statement is required", "missing")
}

func TestBypassStatementRoundTrip(t *testing.T) {
	s := Statement{Workflow: "bypass-1", Overlay: "site", Packages: []string{"a-1-1.noarch", "b-2:1-1.x86_64"}, Decision: DecisionReject, Comment: "no", Nonce: "x"}
	require.Equal(t, "osflow bypass decision v1\nworkflow: bypass-1\noverlay: site\npackages: a-1-1.noarch b-2:1-1.x86_64\ndecision: reject\ncomment: no\nnonce: x\n", s.Text())
	got, err := Parse(s.Text())
	require.NoError(t, err)
	require.Equal(t, s, got)
}

// aliceAndBob makes alice's ed25519 key and bob's of bobType, and the
// approvers' keys as the configuration gives them.
func aliceAndBob(t *testing.T, bobType string) (aliceKey, bobKey string, keys map[string]string) {
	t.Helper()
	aliceKey, aliceLine := testtool.SSHKey(t, "alice", "ed25519")
	bobKey, bobLine := testtool.SSHKey(t, "bob", bobType)
	keys = map[string]string{}
	for _, l := range []string{aliceLine, bobLine} {
		s, err := ParseSigner(l)
		require.NoError(t, err)
		keys[s.Name] = s.Key
	}
	return aliceKey, bobKey, keys
}
