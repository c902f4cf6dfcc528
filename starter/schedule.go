package starter

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/workflows"
)

func (a *app) scheduleCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "schedule", Short: "Manage the Temporal Schedules that run DailySync and watch overlay sources"}
	cmd.AddCommand(&cobra.Command{
		Use:   "apply",
		Short: "Create or update osflow-daily-sync and the osflow-overlay-<name> watch schedules from the configuration",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withClient(cmd.Context(), func(ctx context.Context, cfg *config.Config, c client.Client) error {
				created, err := ApplySchedule(ctx, c, cfg)
				if err != nil {
					return err
				}
				verb := "updated"
				if created {
					verb = "created"
				}
				overlays, err := ApplyOverlaySchedules(ctx, c, cfg)
				if err != nil {
					return err
				}
				if a.jsonOut {
					return printJSON(a.stdout, map[string]any{"schedule": workflows.DailySyncScheduleID, "result": verb, "cron": cfg.Schedule.Cron, "timeZone": cfg.Schedule.TimeZone,
						"overlays": overlays})
				}
				_, err = fmt.Fprintf(a.stdout, "schedule %s %s: %v (%s); see it under Schedules in the Web UI\n",
					workflows.DailySyncScheduleID, verb, cfg.Schedule.Cron, cfg.Schedule.TimeZone)
				if err != nil {
					return err
				}
				return printOverlaySchedules(a.stdout, overlays)
			})
		},
	})
	return cmd
}

// ApplySchedule creates the DailySync schedule or brings an existing one in
// line with the configuration. Overlapping runs are skipped: a sync still
// running when the next is due is left to finish.
func ApplySchedule(ctx context.Context, c client.Client, cfg *config.Config) (created bool, err error) {
	spec := client.ScheduleSpec{
		CronExpressions: cfg.Schedule.Cron,
		TimeZoneName:    cfg.Schedule.TimeZone,
		Jitter:          cfg.Schedule.Jitter.Duration,
	}
	md := workflows.DailySyncMetadata("")
	action := &client.ScheduleWorkflowAction{
		StaticSummary: md.Summary,
		StaticDetails: md.Details,
		ID:            "daily-sync",
		Workflow:      workflows.DailySync,
		Args:          []any{workflows.DailySyncInput{}},
		TaskQueue:     cfg.Temporal.TaskQueue,
	}
	return upsertSchedule(ctx, c, workflows.DailySyncScheduleID, spec, action, &cfg.Schedule.Paused, "managed by `osflow schedule apply`")
}
