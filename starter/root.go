// Package starter is osflow's operator CLI: each verb is a thin cobra
// wrapper over a function that tests can call directly.
package starter

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"strings"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/deploy/examples"
	"github.com/osflow/osflow/logging"
)

// Exit codes, documented in the root command's help.
const (
	ExitOK     = 0
	ExitFailed = 1
	ExitUsage  = 2
)

// UsageError marks a mistake in how a command was called or configured.
type UsageError struct{ Err error }

func (e UsageError) Error() string { return e.Err.Error() }
func (e UsageError) Unwrap() error { return e.Err }

// ExitCode maps an error returned by Execute to the process exit code.
func ExitCode(err error) int {
	var ue UsageError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ue):
		return ExitUsage
	default:
		return ExitFailed
	}
}

// app holds what every command shares; it is built per invocation, never global.
type app struct {
	configPath string
	// embedded is set when no configuration file was found and the
	// embedded dev configuration applies (store.go refuses to read a
	// store that configuration does not find).
	embedded bool
	jsonOut  bool
	stdout   io.Writer
	stderr   io.Writer
}

// NewRootCommand builds the osflow command tree.
func NewRootCommand(stdout, stderr io.Writer) *cobra.Command {
	a := &app{stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:   "osflow",
		Short: "Durable workflows that keep HPC cluster operating systems up to date",
		Long: `osflow mirrors package repositories into immutable snapshots and releases,
serves them through atomically switched channels (daily, testing, production),
and drives the update process as Temporal workflows.

Configuration: --config, else $OSFLOW_CONFIG, else ./osflow.yaml, else the
embedded development configuration (deploy/examples/dev.yaml).

Exit codes: 0 success; 1 the operation failed; 2 bad usage or configuration.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.PersistentFlags().StringVarP(&a.configPath, "config", "c", "", "configuration file (default $OSFLOW_CONFIG, ./osflow.yaml, or the embedded dev config)")
	root.PersistentFlags().BoolVar(&a.jsonOut, "json", false, "print machine-readable JSON instead of text")
	root.AddCommand(
		a.devCommand(),
		a.workerCommand(),
		a.scheduleCommand(),
		a.syncCommand(),
		a.statusCommand(),
		a.repoCommand(),
		a.overlayCommand(),
		a.taskDoneCommand(),
		a.testCommand(),
		a.namespaceCommand(),
	)
	root.AddCommand(a.freezeCommands()...)
	root.AddCommand(a.promotionCommands()...)
	root.AddCommand(a.auditCommand())
	root.AddCommand(a.bypassCommand())
	root.AddCommand(a.reportCommand())
	return root
}

// Execute runs the CLI with args and returns the error to report.
func Execute(args []string, stdout, stderr io.Writer) error {
	root := NewRootCommand(stdout, stderr)
	root.SetArgs(args)
	if c, err := root.ExecuteC(); err != nil {
		if c != nil && !errors.As(err, new(UsageError)) && isFlagError(err) {
			return UsageError{fmt.Errorf("%w\nrun '%s --help' for usage", err, c.CommandPath())}
		}
		return err
	}
	return nil
}

func isFlagError(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown flag", "unknown command", "accepts ", "requires at least", "required flag", "invalid argument", "flag needs"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

// loadConfig finds and strictly loads the configuration.
func (a *app) loadConfig() (*config.Config, error) {
	path := a.configPath
	if path == "" {
		path = os.Getenv("OSFLOW_CONFIG")
	}
	if path == "" {
		if _, err := os.Stat("osflow.yaml"); err == nil {
			path = "osflow.yaml"
		}
	}
	var (
		cfg *config.Config
		err error
	)
	a.embedded = path == ""
	if a.embedded {
		cfg, err = config.Parse("dev.yaml", examples.DevConfig)
	} else {
		cfg, err = config.Load(path)
	}
	if err != nil {
		return nil, UsageError{err}
	}
	return cfg, nil
}

// setup loads the configuration and builds the logger every command uses.
func (a *app) setup() (*config.Config, *zap.Logger, error) {
	cfg, err := a.loadConfig()
	if err != nil {
		return nil, nil, err
	}
	logger, err := a.logger(cfg)
	if err != nil {
		return nil, nil, err
	}
	return cfg, logger, nil
}

func (a *app) logger(cfg *config.Config) (*zap.Logger, error) {
	l, err := logging.New(cfg.Log.Format, cfg.Log.Level)
	if err != nil {
		return nil, UsageError{fmt.Errorf("%s: log: %w", cfg.Path, err)}
	}
	return l, nil
}

// actor names the operator for audit logs: the login name, as sudo users expect.
func actor() string {
	if u := os.Getenv("SUDO_USER"); u != "" {
		return u
	}
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "unknown"
}
