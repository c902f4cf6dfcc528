package repo

import (
	"fmt"
	"path"
	"regexp"
	"strings"
)

var (
	channelName = regexp.MustCompile(`^[a-z][a-z0-9_-]*$`)
	// A repo name becomes one path component: a leading dot or a slash
	// would leave its directory.
	repoName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)
	// An ID has no dot either, so that "<id>.json" and "<id>.manifest"
	// never name another ID's directory.
	idName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)
)

// maxNameLen keeps every name well inside NAME_MAX once suffixes such as
// ".manifest" or ".prev" are added.
const maxNameLen = 200

func checkName(kind, name string, re *regexp.Regexp) error {
	if len(name) > maxNameLen || !re.MatchString(name) {
		return fmt.Errorf("%s name %q must match %s: %w", kind, name, re, ErrInvalid)
	}
	return nil
}

// CheckChannelName reports whether name may name a channel (ErrInvalid if not).
func CheckChannelName(name string) error { return checkName("channel", name, channelName) }

// CheckRepoName reports whether name may name a repo (ErrInvalid if not).
func CheckRepoName(name string) error { return checkName("repo", name, repoName) }

func checkSnapshotID(id string) error { return checkName("snapshot", id, idName) }

func checkReleaseID(id string) error { return checkName("release", id, idName) }

// checkTreePath refuses a snapshot file path that could land outside the
// snapshot tree or alias another entry, whatever the caller checked already.
func checkTreePath(p string) error {
	if p == "" || path.IsAbs(p) || path.Clean(p) != p || p == "." ||
		strings.Contains(p, "\\") || strings.ContainsRune(p, 0) {
		return fmt.Errorf("snapshot file path %q is not a clean relative path: %w", p, ErrInvalid)
	}
	// path.Clean keeps ".." only as leading segments.
	if p == ".." || strings.HasPrefix(p, "../") {
		return fmt.Errorf("snapshot file path %q leaves the snapshot: %w", p, ErrInvalid)
	}
	return nil
}

// CheckReleaseID reports whether id may name a release (ErrInvalid if not).
func CheckReleaseID(id string) error { return checkReleaseID(id) }
