package server

import (
	"encoding/json"
	"io"
)

func newJSONEncoder(w io.Writer) *json.Encoder {
	e := json.NewEncoder(w)
	e.SetEscapeHTML(false)
	return e
}
