package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"reflect"
	"strconv"
	"strings"
	"syscall"
)

// Secrets are declared, not guessed: a field tagged secret:"env" names an
// environment variable holding a secret and one tagged secret:"file" a
// file holding one. Other keys ending in File name files osflow writes to
// or reads as data (monitoring.nagios.commandFile is Nagios's command
// FIFO): reading those as secrets would consume what they carry.

// SecretRef is one secret reference the configuration holds.
type SecretRef struct {
	Key  string // key path, e.g. tickets.github.tokenFile
	Name string // the environment variable or file
	File bool
}

// Secrets lists the secret references that are set, in key order.
func (c *Config) Secrets() []SecretRef {
	return secretRefs("", reflect.ValueOf(c).Elem())
}

func secretRefs(path string, v reflect.Value) []SecretRef {
	var out []SecretRef
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			out = append(out, secretRefs(path, v.Elem())...)
		}
	case reflect.Slice:
		for i := range v.Len() {
			out = append(out, secretRefs(path+"["+strconv.Itoa(i)+"]", v.Index(i))...)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			sf := v.Type().Field(i)
			key := strings.Split(sf.Tag.Get("yaml"), ",")[0]
			if key == "-" || !sf.IsExported() {
				continue
			}
			p := key
			if path != "" && key != "" {
				p = path + "." + key
			} else if key == "" {
				p = path
			}
			f := v.Field(i)
			switch kind := sf.Tag.Get("secret"); {
			case kind != "" && f.Kind() == reflect.String:
				if f.String() != "" {
					out = append(out, SecretRef{Key: p, Name: f.String(), File: kind == "file"})
				}
			default:
				out = append(out, secretRefs(p, f)...)
			}
		}
	}
	return out
}

// maxSecretSize bounds what is read as a secret: a token, password, URL or
// private key, never a log or a disk image.
const maxSecretSize = 1 << 20

// ReadSecretFile returns the trimmed content of a file holding a secret.
// It refuses anything but a regular file: a FIFO (Nagios's command file),
// a socket or a device would block the reader or hand it data meant for
// another program. The open does not block on a FIFO swapped in after the
// check, and the type is checked again on what was opened.
func ReadSecretFile(name string) (string, error) {
	if err := regularFile(name); err != nil {
		return "", err
	}
	f, err := os.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return "", err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", err
	}
	if !st.Mode().IsRegular() {
		return "", notRegular(name, st.Mode())
	}
	b, err := io.ReadAll(io.LimitReader(f, maxSecretSize+1))
	if err != nil {
		return "", err
	}
	if len(b) > maxSecretSize {
		return "", fmt.Errorf("%s: larger than %d bytes, not a secret", name, maxSecretSize)
	}
	return strings.TrimSpace(string(b)), nil
}

// ErrNotRegular is a secret file that is a FIFO, socket, device or directory.
var ErrNotRegular = errors.New("a secret file must be a regular file")

func regularFile(name string) error {
	st, err := os.Stat(name)
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return notRegular(name, st.Mode())
	}
	return nil
}

func notRegular(name string, m fs.FileMode) error {
	what := "a " + m.Type().String()
	switch {
	case m&fs.ModeNamedPipe != 0:
		what = "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		what = "a socket"
	case m&fs.ModeDevice != 0:
		what = "a device"
	case m.IsDir():
		what = "a directory"
	}
	return fmt.Errorf("%s is %s: %w", name, what, ErrNotRegular)
}

// secret reads a secret reference: the trimmed content of file when it is
// set, else the value of the environment variable env, else "".
func secret(what, env, file string) (string, error) {
	if file != "" {
		v, err := ReadSecretFile(file)
		if err != nil {
			return "", fmt.Errorf("%s: %w", what, err)
		}
		return v, nil
	}
	if env == "" {
		return "", nil
	}
	return os.Getenv(env), nil
}
