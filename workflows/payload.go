package workflows

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"go.temporal.io/sdk/workflow"
)

// request is an operator command's payload as it arrived. It decodes
// loosely, as encoding/json does (case-insensitive names, unknown fields
// ignored), because the histories of running and recorded workflows must
// replay as they were decided; and it keeps the raw JSON, so that a
// validator (which never runs on replay) and a signal handler (versioned)
// can refuse what does not decode strictly, naming the field.
type request[T any] struct {
	v   T
	raw json.RawMessage
	// err is the loose decoding's error: a signal that had one was
	// dropped by the SDK before versionStrictPayloads.
	err error
}

// UnmarshalJSON never fails: the error is kept for the validator or the
// signal handler to report, where the caller or `osflow status` sees it.
func (r *request[T]) UnmarshalJSON(b []byte) error {
	r.raw = slices.Clone(b)
	r.err = json.Unmarshal(b, &r.v)
	return nil
}

// strict checks the raw payload: a JSON object whose keys are T's field
// names, exactly, each holding a value of its field's type. A payload
// with no JSON (binary/null) is the zero request, as before.
func (r request[T]) strict() error {
	if r.raw == nil {
		return nil
	}
	if err := strictJSON(reflect.TypeFor[T](), r.raw); err != nil {
		return err
	}
	return r.err
}

// strictJSON checks raw against struct type t field by field, so that
// each refusal names its field.
func strictJSON(t reflect.Type, raw []byte) error {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return fmt.Errorf("the payload is not a JSON object of %s: %w", strings.Join(jsonNames(t), ", "), err)
	}
	fields := jsonFields(t)
	for _, k := range slices.Sorted(maps.Keys(obj)) {
		f, ok := fields[k]
		if !ok {
			return unknownField(k, t)
		}
		if err := json.Unmarshal(obj[k], reflect.New(f.Type).Interface()); err != nil {
			return fmt.Errorf("field %q: want %s: %w", k, f.Type, err)
		}
	}
	return nil
}

func unknownField(k string, t reflect.Type) error {
	names := jsonNames(t)
	for _, n := range names {
		if strings.EqualFold(n, k) {
			return fmt.Errorf("unknown field %q: field names are case-sensitive, did you mean %q?", k, n)
		}
	}
	return fmt.Errorf("unknown field %q: the fields are %s", k, strings.Join(names, ", "))
}

// jsonFields maps the JSON name of each of t's fields to the field.
func jsonFields(t reflect.Type) map[string]reflect.StructField {
	out := map[string]reflect.StructField{}
	for f := range t.Fields() {
		if n, ok := jsonName(f); ok {
			out[n] = f
		}
	}
	return out
}

// jsonNames are the JSON names of t's fields, in order.
func jsonNames(t reflect.Type) []string {
	var out []string
	for f := range t.Fields() {
		if n, ok := jsonName(f); ok {
			out = append(out, n)
		}
	}
	return out
}

// jsonName is the name encoding/json gives a field; false when it
// skips it.
func jsonName(f reflect.StructField) (string, bool) {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	switch {
	case !f.IsExported() || name == "-":
		return "", false
	case name == "":
		return f.Name, true
	}
	return name, true
}

// updateHandler adapts an operator command's handler and validator to the
// raw request: the validator refuses a payload that does not decode
// strictly before it checks the request.
func updateHandler[T, R any](apply func(workflow.Context, T) (R, error), check func(workflow.Context, T) error) (
	func(workflow.Context, request[T]) (R, error), workflow.UpdateHandlerOptions,
) {
	return func(ctx workflow.Context, r request[T]) (R, error) {
			if r.err != nil {
				var zero R
				return zero, r.err
			}
			return apply(ctx, r.v)
		}, workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, r request[T]) error {
			if err := r.strict(); err != nil {
				return err
			}
			return check(ctx, r.v)
		}}
}

// strictSignals says whether this run refuses (and lists) signals whose
// payload does not decode strictly; runs from before dropped one that
// did not decode at all and took unknown fields.
func strictSignals(ctx workflow.Context) bool {
	return workflow.GetVersion(ctx, versionStrictPayloads, workflow.DefaultVersion, 1) == 1
}

// receive takes the next signal of ch: its request, and the strict
// decoding's error when strict. Without strict, a payload that does not
// decode is dropped, as the SDK dropped it.
func receive[T any](ctx workflow.Context, ch workflow.ReceiveChannel, strict bool) (T, error) {
	for {
		var r request[T]
		ch.Receive(ctx, &r)
		if strict {
			return r.v, r.strict()
		}
		if r.err == nil {
			return r.v, nil
		}
		workflow.GetLogger(ctx).Error("signal payload does not decode: dropped", "signal", ch.Name(), "error", r.err)
	}
}

// orRefused is a signal's check: its decoding's error, else check's.
func orRefused(bad error, check func() error) func() error {
	return func() error {
		if bad != nil {
			return bad
		}
		return check()
	}
}
