package upstream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// sourceDateEpoch fixes the build time, so that the same spec builds the same
// package headers whenever it is built (2024-01-01T00:00:00Z).
const sourceDateEpoch = "1704067200"

// BuildRPMs builds every *.spec in specDir with rpmbuild -bb and copies the
// packages into outDir/Packages/. It returns their paths, sorted.
//
// The build neither reads ~/.rpmmacros nor writes outside a temporary
// _topdir: HOME points into it and every macro that matters is defined on
// the command line. Build time, build host and payload compression are fixed.
func BuildRPMs(ctx context.Context, specDir, outDir string) ([]string, error) {
	specs, err := filepath.Glob(filepath.Join(specDir, "*.spec"))
	if err != nil {
		return nil, err
	}
	if len(specs) == 0 {
		return nil, fmt.Errorf("upstream: no *.spec in %s", specDir)
	}
	top, err := os.MkdirTemp("", "osflow-rpmbuild-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(top)

	env := append(os.Environ(), "HOME="+top, "SOURCE_DATE_EPOCH="+sourceDateEpoch, "LC_ALL=C", "TZ=UTC")
	for _, spec := range specs {
		args := []string{"-bb", "--quiet"}
		for _, m := range []string{
			"_topdir " + top,
			"_tmppath " + filepath.Join(top, "tmp"),
			"_buildhost osflow.invalid",
			"_binary_payload w9.gzdio",
			"__os_install_post %{nil}",
			"debug_package %{nil}",
			"use_source_date_epoch_as_buildtime 1",
			"clamp_mtime_to_source_epoch 1",
		} {
			args = append(args, "--define", m)
		}
		if err := run(ctx, env, "rpmbuild", append(args, spec)...); err != nil {
			return nil, err
		}
	}

	built, err := filepath.Glob(filepath.Join(top, "RPMS", "*", "*.rpm"))
	if err != nil {
		return nil, err
	}
	pkgDir := filepath.Join(outDir, "Packages")
	if err := os.MkdirAll(pkgDir, 0o755); err != nil {
		return nil, err
	}
	var out []string
	for _, rpm := range built {
		dst := filepath.Join(pkgDir, filepath.Base(rpm))
		if err := copyFile(rpm, dst); err != nil {
			return nil, err
		}
		out = append(out, dst)
	}
	slices.Sort(out)
	return out, nil
}

// BuildSpecs writes specs to a temporary directory and builds them as
// BuildRPMs does.
func BuildSpecs(ctx context.Context, specs []Spec, outDir string) ([]string, error) {
	dir, err := os.MkdirTemp("", "osflow-specs-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	for _, s := range specs {
		if err := os.WriteFile(filepath.Join(dir, s.Name+".spec"), []byte(s.Text()), 0o644); err != nil {
			return nil, err
		}
	}
	return BuildRPMs(ctx, dir, outDir)
}

// BuildFS builds one repository for each directory <repo> under root in fsys
// that holds *.spec files: the packages in outDir/<repo>/Packages/ and the
// metadata by createrepo_c. A repository whose repodata/repomd.xml exists
// already is left alone, so a second start of osflow dev reuses it. Each
// repository is built under a temporary name and renamed into place.
//
// For a directory on disk, pass os.DirFS(dir) and root ".".
func BuildFS(ctx context.Context, fsys fs.FS, root, outDir string) error {
	entries, err := fs.ReadDir(fsys, root)
	if err != nil {
		return fmt.Errorf("upstream: %w", err)
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		specs, err := fs.Glob(fsys, path.Join(root, e.Name(), "*.spec"))
		if err != nil {
			return err
		}
		if len(specs) == 0 {
			continue
		}
		repoDir := filepath.Join(outDir, e.Name())
		if _, err := os.Stat(filepath.Join(repoDir, "repodata", "repomd.xml")); err == nil {
			continue
		}
		if err := buildRepo(ctx, fsys, specs, repoDir); err != nil {
			return fmt.Errorf("upstream: repo %s: %w", e.Name(), err)
		}
	}
	return nil
}

func buildRepo(ctx context.Context, fsys fs.FS, specs []string, repoDir string) error {
	tmp, err := os.MkdirTemp(filepath.Dir(repoDir), "."+filepath.Base(repoDir)+".tmp-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	specDir := filepath.Join(tmp, ".specs")
	if err := os.Mkdir(specDir, 0o755); err != nil {
		return err
	}
	for _, s := range specs {
		data, err := fs.ReadFile(fsys, s)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(specDir, path.Base(s)), data, 0o644); err != nil {
			return err
		}
	}
	if _, err := BuildRPMs(ctx, specDir, tmp); err != nil {
		return err
	}
	if err := os.RemoveAll(specDir); err != nil {
		return err
	}
	if err := Createrepo(ctx, tmp); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	// What is there has no repomd.xml: a build that was interrupted.
	if err := os.RemoveAll(repoDir); err != nil {
		return err
	}
	return os.Rename(tmp, repoDir)
}

// Createrepo runs createrepo_c with args on dir.
func Createrepo(ctx context.Context, dir string, args ...string) error {
	return run(ctx, nil, "createrepo_c", append(append([]string{"--quiet"}, args...), dir)...)
}

// Modifyrepo adds to repoDir's repodata, with modifyrepo_c, a metadata
// file named name ("updateinfo.xml", "modules.yaml") holding content; its
// type is the name's stem.
func Modifyrepo(ctx context.Context, repoDir, name, content string) error {
	tmp, err := os.MkdirTemp("", "osflow-modifyrepo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	f := filepath.Join(tmp, name)
	if err := os.WriteFile(f, []byte(content), 0o644); err != nil {
		return err
	}
	typ, _, _ := strings.Cut(name, ".")
	return run(ctx, nil, "modifyrepo_c", "--mdtype="+typ, f, filepath.Join(repoDir, "repodata"))
}

// run runs a command; a failure carries the command and its output.
func run(ctx context.Context, env []string, name string, args ...string) error {
	_, err := output(ctx, env, name, args...)
	return err
}

// output runs a command and returns its standard output; a failure carries
// the command and its standard error.
func output(ctx context.Context, env []string, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = strings.TrimSpace(stdout.String())
		}
		return nil, fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, msg)
	}
	return stdout.Bytes(), nil
}

func copyFile(src, dst string) (err error) {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, out.Close()) }()
	_, err = io.Copy(out, in)
	return err
}
