package starter

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"

	"go.temporal.io/sdk/client"
	"go.uber.org/zap"

	"github.com/osflow/osflow/config"
	"github.com/osflow/osflow/logging"
)

// Dial connects to the Temporal cluster the configuration names. The API
// key is read on every call from its environment variable or file, so a
// rotated key is picked up and no key is ever copied into workflow data.
func Dial(ctx context.Context, cfg *config.Config, logger *zap.Logger, metrics client.MetricsHandler) (client.Client, error) {
	t := cfg.Temporal
	opts := client.Options{
		HostPort:       t.Address,
		Namespace:      t.Namespace,
		Logger:         logging.Temporal(logger),
		MetricsHandler: metrics,
	}
	tlsCfg, err := tlsConfig(t.TLS)
	if err != nil {
		return nil, UsageError{fmt.Errorf("%s: temporal.tls: %w", cfg.Path, err)}
	}
	if apiKeyConfigured(t) {
		opts.Credentials = client.NewAPIKeyDynamicCredentials(func(context.Context) (string, error) {
			return readAPIKey(t)
		})
		if tlsCfg == nil {
			// API keys are only accepted over TLS (Temporal Cloud and secured clusters).
			tlsCfg = &tls.Config{MinVersion: tls.VersionTLS12}
		}
	}
	opts.ConnectionOptions.TLS = tlsCfg
	c, err := client.DialContext(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("connect to Temporal at %s (namespace %s): %w; is the server running? `osflow dev` starts one, or set temporal.address / TEMPORAL_ADDRESS",
			t.Address, t.Namespace, err)
	}
	return c, nil
}

func tlsConfig(t *config.TLS) (*tls.Config, error) {
	if t == nil {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("client certificate %s / key %s: %w", t.CertFile, t.KeyFile, err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s holds no PEM certificate", t.CAFile)
		}
		c.RootCAs = pool
	}
	return c, nil
}

func apiKeyConfigured(t config.Temporal) bool {
	return t.APIKeyFile != "" || (t.APIKeyEnv != "" && os.Getenv(t.APIKeyEnv) != "")
}

func readAPIKey(t config.Temporal) (string, error) {
	if t.APIKeyFile != "" {
		b, err := os.ReadFile(t.APIKeyFile)
		if err != nil {
			return "", fmt.Errorf("temporal.apiKeyFile: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	return os.Getenv(t.APIKeyEnv), nil
}
