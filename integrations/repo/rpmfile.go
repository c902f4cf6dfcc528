package repo

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// RPMInfo is what rpm says a package file is.
type RPMInfo struct {
	Name, Epoch, Version, Release, Arch string
	NEVRA                               string
}

// InspectRPM asks the real rpm what file is; its message becomes the error
// (wrapping ErrInvalid) when file is not a readable RPM.
func InspectRPM(ctx context.Context, file string) (RPMInfo, error) {
	infos, err := InspectRPMs(ctx, []string{file})
	if err != nil {
		return RPMInfo{}, err
	}
	return infos[0], nil
}

// InspectRPMs is InspectRPM for many files with one run of rpm, in the
// order given.
func InspectRPMs(ctx context.Context, files []string) ([]RPMInfo, error) {
	if len(files) == 0 {
		return nil, nil
	}
	name := files[0]
	if len(files) > 1 {
		name = fmt.Sprintf("%s (or one of %d files with it)", files[0], len(files))
	}
	args := []string{"-qp", "--nosignature", "--qf", `%{NAME}\t%{EPOCHNUM}\t%{VERSION}\t%{RELEASE}\t%{ARCH}\t%{NEVRA}\n`}
	for _, file := range files {
		// rpm -qp reads a file without the RPM lead as a manifest, a list
		// of further package paths, and would report their NEVRAs instead.
		if err := checkRPMLead(file); err != nil {
			return nil, err
		}
		abs, err := filepath.Abs(file) // a name starting with "-" is no option
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		args = append(args, abs)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "rpm", args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return nil, fmt.Errorf("%s is not a readable RPM: %s: %w", name, msg, ErrInvalid)
	}
	lines := strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n")
	if len(lines) != len(files) {
		return nil, fmt.Errorf("%s: rpm reports %q: %w", name, stdout.String(), ErrInvalid)
	}
	infos := make([]RPMInfo, len(files))
	for i, line := range lines {
		f := strings.Split(line, "\t")
		if len(f) != 6 || f[5] == "" || strings.ContainsAny(f[5], "/\x00") || strings.HasPrefix(f[5], ".") {
			return nil, fmt.Errorf("%s: rpm reports %q: %w", files[i], line, ErrInvalid)
		}
		infos[i] = RPMInfo{Name: f[0], Epoch: f[1], Version: f[2], Release: f[3], Arch: f[4], NEVRA: f[5]}
	}
	return infos, nil
}

// CheckRPMSignature verifies that file carries a valid OpenPGP signature by
// the key in keyFile, with rpmkeys and an rpm database of its own (the
// host's keyring is not consulted). An unsigned file, one signed by
// another key, or one whose digests do not match fails, wrapping
// ErrBadContent.
func CheckRPMSignature(ctx context.Context, file, keyFile string) error {
	db, err := os.MkdirTemp("", "osflow-rpmkeys-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(db)
	rpmkeys := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, "rpmkeys", append([]string{"--define", "_dbpath " + db}, args...)...)
		out, err := cmd.CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	if out, err := rpmkeys("--import", keyFile); err != nil {
		return fmt.Errorf("import signing key %s: %s: %w", keyFile, out, ErrInvalid)
	}
	abs, err := filepath.Abs(file)
	if err != nil {
		return err
	}
	out, err := rpmkeys("--checksig", abs)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	// rpm says "digests signatures OK" for a good signature by a key it
	// knows, "digests OK" for an unsigned file, and "SIGNATURES NOT OK"
	// (exit 1) for a key it does not know or a bad signature.
	if err != nil || !strings.HasSuffix(out, "signatures OK") {
		return fmt.Errorf("%s is not signed by the key in %s (rpmkeys: %s): %w", filepath.Base(file), keyFile, out, ErrBadContent)
	}
	return nil
}
