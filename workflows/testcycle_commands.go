package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/osflow/osflow/activities"
)

// registerCommands sets up the operator commands of the test cycle: each
// an Update whose validator refuses a bad request before it enters history,
// and the same name as a Signal (tctl, the Web UI's Send Signal) that goes
// through the same checks: a refused signal is logged and listed in the
// status.
func (c *testCycle) registerCommands(ctx workflow.Context) error {
	freeze, opts := updateHandler(func(ctx workflow.Context, req FreezeRequest) (FreezeResult, error) {
		return c.freeze(ctx, req, updateKey(ctx))
	}, func(_ workflow.Context, req FreezeRequest) error { return c.checkFreezeUpdate(req) })
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateFreeze, freeze, opts); err != nil {
		return err
	}
	taskDone, opts := updateHandler(func(_ workflow.Context, d TaskDone) (TaskDoneResult, error) { return c.taskDoneBy(d) },
		func(_ workflow.Context, d TaskDone) error { return c.checkTaskDone(d) })
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateTaskDone, taskDone, opts); err != nil {
		return err
	}
	testNow, opts := updateHandler(func(_ workflow.Context, req TestNowRequest) (TestNowResult, error) { return c.testNow(req) },
		func(_ workflow.Context, req TestNowRequest) error { return c.checkTestNow(req) })
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateTestNow, testNow, opts); err != nil {
		return err
	}

	strict := strictSignals(ctx)
	freezes := workflow.GetSignalChannel(ctx, SignalFreeze)
	tasks := workflow.GetSignalChannel(ctx, SignalTaskDone)
	c.signals = []workflow.ReceiveChannel{freezes, tasks}
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			req, bad := receive[FreezeRequest](ctx, freezes, strict)
			c.operatorSignal(ctx, SignalFreeze, req.Actor, orRefused(bad, func() error { return c.checkFreeze(req) }), func(key string) error {
				_, err := c.freeze(ctx, req, key)
				return err
			})
		}
	})
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			d, bad := receive[TaskDone](ctx, tasks, strict)
			c.operatorSignal(ctx, SignalTaskDone, d.By, orRefused(bad, func() error { return c.checkTaskDone(d) }), func(string) error {
				_, err := c.taskDoneBy(d)
				return err
			})
		}
	})
	return nil
}

// updateKey is the operation key of an Update's side effects: its ID is
// unique in the workflow and the same on every retry of its activities.
func updateKey(ctx workflow.Context) string {
	return workflow.GetInfo(ctx).WorkflowExecution.ID + "/update/" + workflow.GetCurrentUpdateInfo(ctx).ID
}

// operatorSignal runs a signal through an Update's checks and effect; a
// refusal is logged and kept in the status, as a signal has no caller to
// answer.
func (c *testCycle) operatorSignal(ctx workflow.Context, name, by string, check func() error, apply func(key string) error) {
	c.inflight++
	defer func() { c.inflight-- }()
	c.state.Signals++
	err := check()
	if err == nil {
		err = apply(runKey(ctx, fmt.Sprintf("signal-%d", c.state.Signals)))
	}
	if err != nil {
		msg := fmt.Sprintf("%s %s from %q refused: %v", workflow.Now(ctx).UTC().Format(time.RFC3339), name, by, err)
		c.state.Refused = appendBounded(c.state.Refused, msg, maxRefusals)
		workflow.GetLogger(ctx).Warn("operator signal refused", "signal", name, "by", by, "error", err)
	}
}

// checkFreezeUpdate validates the freeze Update. An unfreeze passes even
// when the cycle last saw testing unfrozen: a promotion holds testing by
// itself, unseen until the cycle reads it again, and the handler checks
// against the store. (Signals keep checkFreeze alone: a refused signal is
// in the history of running cycles.)
func (c *testCycle) checkFreezeUpdate(req FreezeRequest) error {
	if !req.Frozen && !c.state.Frozen {
		return singleLine("actor", req.Actor, true)
	}
	return c.checkFreeze(req)
}

// checkFreeze is the freeze validator: it reads the state the cycle last
// saw; freeze itself checks again under the lock, against the store.
func (c *testCycle) checkFreeze(req FreezeRequest) error {
	if err := singleLine("actor", req.Actor, true); err != nil {
		return err
	}
	if err := singleLine("reason", req.Reason, req.Frozen); err != nil {
		return err
	}
	switch {
	case req.Frozen && c.state.Current == "":
		return errors.New("testing serves no release yet: nothing to freeze (run `osflow sync` first)")
	case req.Frozen && c.state.Frozen && c.state.RehearsalKey == "":
		return fmt.Errorf("testing is already frozen at %s by %s (%s); `osflow unfreeze` first",
			c.state.FrozenAt, c.state.FrozenBy, c.state.FrozenReason)
	case !req.Frozen && !c.state.Frozen:
		return errors.New("testing is not frozen")
	case !req.Frozen && c.state.RehearsalKey != "":
		return fmt.Errorf("testing is held at %s by the outage rehearsal, which releases it when the candidate is ready", c.state.FrozenAt)
	}
	return nil
}

// freeze freezes testing at the release it serves, read under the lock,
// or releases it. A freeze during a rehearsal takes the rehearsal's
// freeze over, so it outlasts the rehearsal.
func (c *testCycle) freeze(ctx workflow.Context, req FreezeRequest, key string) (FreezeResult, error) {
	if err := c.mu.Lock(ctx); err != nil {
		return FreezeResult{}, err
	}
	defer c.mu.Unlock()
	st, err := c.readTesting(ctx)
	if err != nil {
		return FreezeResult{}, stepError("read the testing channel", err)
	}
	if err := c.checkFreeze(req); err != nil {
		return FreezeResult{}, err // the channel changed while this waited for the lock
	}
	in := activities.FreezeInput{Channel: c.plan.TestingChannel, Frozen: req.Frozen, Release: st.Release,
		Actor: req.Actor, Reason: req.Reason, Key: key}
	if !req.Frozen {
		in.Release = ""
		if in.Reason == "" {
			in.Reason = "unfreeze"
		}
	}
	var after activities.ChannelState
	if err := workflow.ExecuteActivity(storeActivityCtx(ctx, c.plan.RepoTaskQueue), repoActs.SetFreeze, in).Get(ctx, &after); err != nil {
		return FreezeResult{}, stepError("freeze testing", err)
	}
	if req.Frozen {
		c.state.RehearsalKey = ""
	}
	c.applyChannel(ctx, after)
	c.dirty = true
	return FreezeResult{Frozen: c.state.Frozen, Release: after.Release, By: c.state.FrozenBy, Reason: c.state.FrozenReason}, nil
}

func (c *testCycle) checkTaskDone(d TaskDone) error {
	if err := singleLine("task", d.Task, true); err != nil {
		return err
	}
	if err := singleLine("who (--as)", d.By, true); err != nil {
		return err
	}
	if c.state.WaitingFor != d.Task {
		waiting := c.state.WaitingFor
		if waiting == "" {
			waiting = "no task"
		}
		return fmt.Errorf("the rehearsal is not waiting for task %q (it waits for %s)", d.Task, waiting)
	}
	if by := c.taskDone[d.Task]; by != "" {
		return fmt.Errorf("task %q was already reported done by %s", d.Task, by)
	}
	return nil
}

func (c *testCycle) taskDoneBy(d TaskDone) (TaskDoneResult, error) {
	if err := c.checkTaskDone(d); err != nil {
		return TaskDoneResult{}, err
	}
	c.taskDone[d.Task] = d.By
	return TaskDoneResult{Task: d.Task, By: d.By, Release: c.state.Current}, nil
}

func (c *testCycle) checkTestNow(req TestNowRequest) error {
	if err := singleLine("who", req.By, true); err != nil {
		return err
	}
	switch {
	case c.state.Current == "":
		return errors.New("testing serves no release yet (run `osflow sync` first)")
	case c.state.InRound != nil:
		return fmt.Errorf("a round on %s is running since %s (suite %s)",
			c.state.InRound.Release, c.state.InRound.Since.UTC().Format(time.RFC3339), c.state.InRound.Suite)
	case c.state.TestNow:
		return fmt.Errorf("a round was already requested by %s", c.state.TestNowBy)
	case c.state.Phase == PhaseRehearsal || c.state.Phase == PhaseCandidate:
		return fmt.Errorf("the cycle is in its %s of %s; test again when it is done", c.state.Phase, c.state.Current)
	}
	return nil
}

func (c *testCycle) testNow(req TestNowRequest) (TestNowResult, error) {
	c.state.TestNow, c.state.TestNowBy = true, req.By
	return TestNowResult{Release: c.state.Current}, nil
}
