package starter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/workflows"
)

// OverlaySchedule is what ApplyOverlaySchedules did to the watch schedule
// of one overlay.
type OverlaySchedule struct {
	Schedule string   `json:"schedule"`
	Overlay  string   `json:"overlay"`
	Result   string   `json:"result"` // created, updated or deleted
	Cron     []string `json:"cron,omitempty"`
	TimeZone string   `json:"timeZone,omitempty"`
	Sources  int      `json:"sources,omitempty"`
}

// ApplyOverlaySchedules creates or updates one schedule per overlay with
// sources (osflow-overlay-<name>, from repos[].watch and watchTimeZone,
// overlapping runs skipped) and deletes the watch schedules of overlays
// that have no sources any more. An operator's pause of a watch schedule
// (temporal schedule toggle --pause) is kept.
func ApplyOverlaySchedules(ctx context.Context, c client.Client, cfg *config.Config) ([]OverlaySchedule, error) {
	var done []OverlaySchedule
	want := map[string]bool{}
	for _, r := range cfg.Repos {
		if !r.Watches() {
			continue
		}
		id := workflows.OverlayWatchScheduleID(r.Name)
		want[id] = true
		created, err := upsertSchedule(ctx, c, id, client.ScheduleSpec{CronExpressions: r.Watch, TimeZoneName: r.WatchTimeZone},
			&client.ScheduleWorkflowAction{
				ID:        workflows.OverlayWatchActionPrefix + r.Name,
				Workflow:  workflows.OverlayWatch,
				Args:      []any{workflows.OverlayWatchInput{Overlay: r.Name}},
				TaskQueue: cfg.Temporal.TaskQueue,
			}, nil, fmt.Sprintf("managed by `osflow schedule apply`: checks the sources of overlay %s", r.Name))
		if err != nil {
			return done, err
		}
		s := OverlaySchedule{Schedule: id, Overlay: r.Name, Result: "updated", Cron: r.Watch, TimeZone: r.WatchTimeZone, Sources: len(r.Sources)}
		if created {
			s.Result = "created"
		}
		done = append(done, s)
	}

	it, err := c.ScheduleClient().List(ctx, client.ScheduleListOptions{})
	if err != nil {
		return done, fmt.Errorf("list schedules: %w", err)
	}
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return done, fmt.Errorf("list schedules: %w", err)
		}
		overlay, ok := strings.CutPrefix(e.ID, workflows.OverlayWatchSchedulePrefix)
		if !ok || want[e.ID] || e.WorkflowType.Name != "OverlayWatch" {
			continue
		}
		err = c.ScheduleClient().GetHandle(ctx, e.ID).Delete(ctx)
		var nf *serviceerror.NotFound
		if err != nil && !errors.As(err, &nf) {
			return done, fmt.Errorf("delete schedule %s of overlay %s, which has no sources now: %w", e.ID, overlay, err)
		}
		done = append(done, OverlaySchedule{Schedule: e.ID, Overlay: overlay, Result: "deleted"})
	}
	return done, nil
}

// printOverlaySchedules says what ApplyOverlaySchedules did, one line each.
func printOverlaySchedules(w io.Writer, done []OverlaySchedule) error {
	for _, s := range done {
		var err error
		if s.Result == "deleted" {
			_, err = fmt.Fprintf(w, "schedule %s deleted: overlay %s has no sources now\n", s.Schedule, s.Overlay)
		} else {
			_, err = fmt.Fprintf(w, "schedule %s %s: %v (%s) checks %d sources of overlay %s\n", s.Schedule, s.Result, s.Cron, s.TimeZone, s.Sources, s.Overlay)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// upsertSchedule creates a schedule, or brings an existing one in line
// with spec, action and note. Overlapping runs are skipped: a run still
// going when the next is due is left to finish. paused, when given, is
// the schedule's state; nil creates it running and leaves an existing
// one's state alone.
func upsertSchedule(ctx context.Context, c client.Client, id string, spec client.ScheduleSpec, action *client.ScheduleWorkflowAction,
	paused *bool, note string) (created bool, err error) {
	h := c.ScheduleClient().GetHandle(ctx, id)
	_, err = h.Describe(ctx)
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		_, err = c.ScheduleClient().Create(ctx, client.ScheduleOptions{
			ID:      id,
			Spec:    spec,
			Action:  action,
			Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
			Paused:  paused != nil && *paused,
			Note:    note,
		})
		if err != nil {
			return false, fmt.Errorf("create schedule %s: %w", id, err)
		}
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("describe schedule %s: %w", id, err)
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
			if paused != nil {
				s.State.Paused = *paused
			}
			if paused != nil || !s.State.Paused {
				s.State.Note = note // an operator's pause keeps its reason
			}
			return &client.ScheduleUpdate{Schedule: &s}, nil
		},
	})
	if err != nil {
		return false, fmt.Errorf("update schedule %s: %w", id, err)
	}
	return false, nil
}
