package starter

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/osflow/osflow/workflows"
)

// NamespaceSetup is what SetupNamespace did.
type NamespaceSetup struct {
	Namespace string   `json:"namespace"`
	Created   bool     `json:"created"`
	Added     []string `json:"searchAttributesAdded"`
	Present   []string `json:"searchAttributesPresent"`
}

// SetupNamespace prepares one site's namespace on a Temporal cluster: it
// registers the namespace when it is missing (with retention) and adds
// the osflow search attributes it lacks. Running it again changes nothing,
// so it belongs in every deployment script. Temporal Cloud namespaces are
// created in the Cloud console; there only the search attributes are added.
func SetupNamespace(ctx context.Context, c client.Client, namespace string, retention time.Duration) (NamespaceSetup, error) {
	res := NamespaceSetup{Namespace: namespace}
	_, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: namespace})
	var notFound *serviceerror.NamespaceNotFound
	switch {
	case errors.As(err, &notFound):
		if _, err := c.WorkflowService().RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
			Namespace:                        namespace,
			Description:                      "osflow site",
			WorkflowExecutionRetentionPeriod: durationpb.New(retention),
		}); err != nil && !errors.As(err, new(*serviceerror.NamespaceAlreadyExists)) {
			return res, fmt.Errorf("register namespace %s: %w", namespace, err)
		}
		res.Created = true
	case err != nil:
		return res, fmt.Errorf("describe namespace %s: %w", namespace, err)
	}

	want := map[string]enumspb.IndexedValueType{}
	for name, typ := range workflows.SearchAttributes() {
		v, err := enumspb.IndexedValueTypeFromString(typ)
		if err != nil {
			return res, fmt.Errorf("search attribute %s: %w", name, err)
		}
		want[name] = v
	}
	// A namespace just registered reaches every frontend's cache only
	// after a refresh (about 10s), so "not found" is retried until then.
	var have *operatorservice.ListSearchAttributesResponse
	for {
		have, err = c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
		if err == nil || !errors.As(err, &notFound) {
			break
		}
		select {
		case <-ctx.Done():
			return res, fmt.Errorf("namespace %s registered but not visible yet: %w", namespace, err)
		case <-time.After(500 * time.Millisecond):
		}
	}
	if err != nil {
		return res, fmt.Errorf("list search attributes of %s: %w", namespace, err)
	}
	missing := map[string]enumspb.IndexedValueType{}
	for _, name := range slices.Sorted(maps.Keys(want)) {
		got, ok := have.GetCustomAttributes()[name]
		switch {
		case !ok:
			missing[name] = want[name]
			res.Added = append(res.Added, name)
		case got != want[name]:
			return res, fmt.Errorf("search attribute %s in namespace %s has type %s, osflow needs %s: remove it with `temporal operator search-attribute remove` and run this again",
				name, namespace, got, want[name])
		default:
			res.Present = append(res.Present, name)
		}
	}
	if len(missing) > 0 {
		if _, err := c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
			Namespace: namespace, SearchAttributes: missing,
		}); err != nil {
			return res, fmt.Errorf("add search attributes %v to %s: %w", res.Added, namespace, err)
		}
	}
	return res, nil
}

func (a *app) namespaceCommand() *cobra.Command {
	ns := &cobra.Command{
		Use:   "namespace",
		Short: "Prepare the Temporal namespace of this site",
	}
	var retention time.Duration
	setup := &cobra.Command{
		Use:   "setup",
		Short: "Create the site's namespace if missing and register osflow's search attributes",
		Long: `Registers temporal.namespace on the cluster of the configuration when it does
not exist (with --retention for closed workflows), then adds the search
attributes osflow's workflows set (OsflowPhase, OsflowRelease, ...) that the
namespace lacks. Safe to run again: it changes only what is missing.
Each site (a test/production cluster pair) has a namespace of its own.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, logger, err := a.setup()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), time.Minute)
			defer cancel()
			c, err := Dial(ctx, cfg, logger, nil)
			if err != nil {
				return err
			}
			defer c.Close()
			res, err := SetupNamespace(ctx, c, cfg.Temporal.Namespace, retention)
			if err != nil {
				return err
			}
			if a.jsonOut {
				return printJSON(a.stdout, res)
			}
			verb := "exists"
			if res.Created {
				verb = fmt.Sprintf("created (retention %s)", retention)
			}
			fmt.Fprintf(a.stdout, "namespace %s %s\n", res.Namespace, verb)
			if len(res.Added) > 0 {
				fmt.Fprintf(a.stdout, "search attributes added: %v\n", res.Added)
			}
			if len(res.Present) > 0 {
				fmt.Fprintf(a.stdout, "search attributes already there: %v\n", res.Present)
			}
			return nil
		},
	}
	setup.Flags().DurationVar(&retention, "retention", 30*24*time.Hour, "how long closed workflows stay visible (when the namespace is created)")
	ns.AddCommand(setup)
	return ns
}
