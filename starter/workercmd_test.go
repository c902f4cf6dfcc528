package starter

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/osflow/osflow/worker"
)

func TestWorkerRole(t *testing.T) {
	for _, c := range []struct {
		name           string
		role           string
		roleSet        bool
		noRepo, noMain bool
		want           worker.Role
		err            string
	}{
		{name: "default serves both", role: "all", want: worker.RoleAll},
		{name: "repo", role: "repo", roleSet: true, want: worker.RoleRepo},
		{name: "main", role: "main", roleSet: true, want: worker.RoleMain},
		{name: "--no-repo is main", role: "all", noRepo: true, want: worker.RoleMain},
		{name: "--no-main is repo", role: "all", noMain: true, want: worker.RoleRepo},
		{name: "alias agrees with role", role: "main", roleSet: true, noRepo: true, want: worker.RoleMain},
		{name: "alias contradicts role", role: "repo", roleSet: true, noRepo: true, err: "--role repo contradicts --no-repo/--no-main (which mean --role main)"},
		{name: "both aliases", role: "all", noRepo: true, noMain: true, err: "leave no task queue"},
		{name: "unknown role", role: "store", roleSet: true, err: `--role: unknown worker role "store": use one of all, repo, main`},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := workerRole(c.role, c.roleSet, c.noRepo, c.noMain)
			if c.err != "" {
				require.ErrorContains(t, err, c.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, c.want, got)
			opts := got.Options()
			require.Equal(t, got != worker.RoleMain, opts.Repo)
			require.Equal(t, got != worker.RoleRepo, opts.Main)
		})
	}
}

func TestWorkerRoleUsageExit(t *testing.T) {
	var out strings.Builder
	err := Execute([]string{"worker", "--role", "store"}, &out, &out)
	require.Equal(t, ExitUsage, ExitCode(err))
	require.ErrorContains(t, err, "unknown worker role")
}
