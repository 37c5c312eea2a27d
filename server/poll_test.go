package server_test

import (
	"net/url"
	"strings"
)

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }

func pathEscape(s string) string  { return url.PathEscape(s) }
func queryEscape(s string) string { return url.QueryEscape(s) }
