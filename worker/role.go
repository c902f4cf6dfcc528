package worker

import (
	"fmt"
	"strings"
)

// Role names what a worker process is for, which decides the task queues
// it serves. A site runs RoleRepo on the host that mounts the store and
// RoleMain anywhere else; RoleAll is both, for a single host.
type Role string

const (
	RoleAll  Role = "all"
	RoleRepo Role = "repo"
	RoleMain Role = "main"
)

// Roles lists every role, for help texts and errors.
func Roles() []Role { return []Role{RoleAll, RoleRepo, RoleMain} }

// ParseRole checks a role given on the command line.
func ParseRole(s string) (Role, error) {
	var names []string
	for _, r := range Roles() {
		if string(r) == s {
			return r, nil
		}
		names = append(names, string(r))
	}
	return "", fmt.Errorf("unknown worker role %q: use one of %s", s, strings.Join(names, ", "))
}

// Options returns the queue selection of the role; the caller adds the rest.
func (r Role) Options() Options {
	return Options{Repo: r == RoleAll || r == RoleRepo, Main: r == RoleAll || r == RoleMain}
}
