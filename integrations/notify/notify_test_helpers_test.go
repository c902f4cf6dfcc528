package notify

import (
	"mime"
	"os"
)

func writeFile(path, s string) error { return os.WriteFile(path, []byte(s), 0o600) }

type mimeWordDecoder = mime.WordDecoder
