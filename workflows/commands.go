package workflows

import "go.temporal.io/sdk/workflow"

// operatorCommand registers one operator command: an Update named name
// whose validator (check) refuses a request before it enters history, and
// a Signal of the same name, for tctl and the Web UI's Send Signal, that
// goes through the same check and handler; a refused signal goes to
// refuse, as nobody waits for its answer. by names who sent a request.
// Both refuse a payload that does not decode strictly (request).
func operatorCommand[T, R any](ctx workflow.Context, name string, by func(T) string,
	check func(workflow.Context, T) error, apply func(workflow.Context, T) (R, error),
	refuse func(ctx workflow.Context, name, by string, err error),
) error {
	handler, opts := updateHandler(apply, check)
	if err := workflow.SetUpdateHandlerWithOptions(ctx, name, handler, opts); err != nil {
		return err
	}
	strict := strictSignals(ctx)
	ch := workflow.GetSignalChannel(ctx, name)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			r, err := receive[T](ctx, ch, strict)
			if err == nil {
				err = check(ctx, r)
			}
			if err == nil {
				_, err = apply(ctx, r)
			}
			if err != nil {
				refuse(ctx, name, by(r), err)
			}
		}
	})
	return nil
}
