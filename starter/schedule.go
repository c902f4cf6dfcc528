package starter

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/workflows"
)

func (a *app) scheduleCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "schedule", Short: "Manage the Temporal Schedule that runs DailySync"}
	cmd.AddCommand(&cobra.Command{
		Use:   "apply",
		Short: "Create or update the osflow-daily-sync schedule from the configuration",
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
				if a.jsonOut {
					return printJSON(a.stdout, map[string]any{"schedule": workflows.DailySyncScheduleID, "result": verb, "cron": cfg.Schedule.Cron, "timeZone": cfg.Schedule.TimeZone})
				}
				_, err = fmt.Fprintf(a.stdout, "schedule %s %s: %v (%s); see it under Schedules in the Web UI\n",
					workflows.DailySyncScheduleID, verb, cfg.Schedule.Cron, cfg.Schedule.TimeZone)
				return err
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
	action := &client.ScheduleWorkflowAction{
		ID:        "daily-sync",
		Workflow:  workflows.DailySync,
		Args:      []any{workflows.DailySyncInput{}},
		TaskQueue: cfg.Temporal.TaskQueue,
	}
	const note = "managed by `osflow schedule apply`"
	h := c.ScheduleClient().GetHandle(ctx, workflows.DailySyncScheduleID)
	_, err = h.Describe(ctx)
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		_, err = c.ScheduleClient().Create(ctx, client.ScheduleOptions{
			ID:      workflows.DailySyncScheduleID,
			Spec:    spec,
			Action:  action,
			Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
			Paused:  cfg.Schedule.Paused,
			Note:    note,
		})
		if err != nil {
			return false, fmt.Errorf("create schedule %s: %w", workflows.DailySyncScheduleID, err)
		}
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("describe schedule %s: %w", workflows.DailySyncScheduleID, err)
	}
	err = h.Update(ctx, client.ScheduleUpdateOptions{
		DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
			s := in.Description.Schedule
			s.Spec = &spec
			s.Action = action
			if s.Policy == nil {
				s.Policy = &client.SchedulePolicies{}
			}
			s.Policy.Overlap = enumspb.SCHEDULE_OVERLAP_POLICY_SKIP
			if s.State == nil {
				s.State = &client.ScheduleState{}
			}
			s.State.Paused = cfg.Schedule.Paused
			s.State.Note = note
			return &client.ScheduleUpdate{Schedule: &s}, nil
		},
	})
	if err != nil {
		return false, fmt.Errorf("update schedule %s: %w", workflows.DailySyncScheduleID, err)
	}
	return false, nil
}
