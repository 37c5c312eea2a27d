package examples_test

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
)

// diff compares the documented response (want) with the real one (got),
// both as wire JSON, and returns one line per field that differs.
//
// Every field of the documented response must be present in the real one.
// Values are compared except where the example's value cannot be the real
// one: ids (keys ending in "id"/"ids", ARM resource ids, GUIDs), names
// (a resource's name, keys ending in "Name"), URLs and SAS tokens, etags,
// times and durations, and free text meant for people (messages,
// descriptions, errorMessages, recommendations) and random secrets
// (security PINs and tokens): those are compared only for presence.
// Strings compare case-insensitively (ARM is case-insensitive), locations
// without spaces. Arrays: each documented element must match some real
// element (lists hold what the server has, in its order).
func diff(path string, want, got any) []string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: want an object, got %s", orRoot(path), short(got))}
		}
		var out []string
		keys := make([]string, 0, len(w))
		for k := range w {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := path + "." + k
			gv, ok := g[k]
			if !ok && strings.HasPrefix(strings.ToLower(k), "/subscriptions/") {
				// A map keyed by resource id (userAssignedIdentities): the
				// example's subscription is the server's.
				for gk, v := range g {
					if strings.EqualFold(reKeySub.ReplaceAllString(gk, "/subscriptions/_"), reKeySub.ReplaceAllString(k, "/subscriptions/_")) {
						gv, ok = v, true
					}
				}
			}
			if !ok || gv == nil {
				if w[k] == nil {
					continue
				}
				out = append(out, fmt.Sprintf("%s: missing (want %s)", p, short(w[k])))
				continue
			}
			// (the response's own name is a resource's, with or without
			// its id documented)
			if presenceOnly(k, w[k], w) || path == "" && strings.EqualFold(k, "name") {
				continue
			}
			out = append(out, diff(p, w[k], gv)...)
		}
		return out
	case []any:
		g, ok := got.([]any)
		if !ok {
			return []string{fmt.Sprintf("%s: want an array, got %s", orRoot(path), short(got))}
		}
		var out []string
		for i, we := range w {
			var best []string
			matched := false
			for _, ge := range g {
				d := diff(fmt.Sprintf("%s[%d]", path, i), we, ge)
				if !matched || len(d) < len(best) {
					best, matched = d, true
				}
				if len(d) == 0 {
					break
				}
			}
			if !matched {
				best = []string{fmt.Sprintf("%s[%d]: missing (got %d elements, want %d)", path, i, len(g), len(w))}
			}
			out = append(out, best...)
		}
		return out
	case string:
		g, ok := got.(string)
		if !ok {
			return []string{fmt.Sprintf("%s: want %q, got %s", path, w, short(got))}
		}
		if lp := strings.ToLower(path); strings.HasSuffix(lp, "location") || strings.HasSuffix(lp, "region") {
			w, g = strings.ReplaceAll(w, " ", ""), strings.ReplaceAll(g, " ", "")
		}
		if !strings.EqualFold(w, g) {
			return []string{fmt.Sprintf("%s: want %q, got %q", path, w, g)}
		}
		return nil
	default:
		if fmt.Sprint(want) != fmt.Sprint(got) {
			return []string{fmt.Sprintf("%s: want %s, got %s", path, short(want), short(got))}
		}
		return nil
	}
}

var reKeySub = regexp.MustCompile(`(?i)^/subscriptions/[^/]+`)

func orRoot(p string) string {
	if p == "" {
		return "(response)"
	}
	return p
}

// presenceOnly reports whether the value of key k is checked for presence
// only (see diff).
func presenceOnly(k string, v any, parent map[string]any) bool {
	lk := strings.ToLower(k)
	switch {
	case lk == "etag", lk == "name" && (parent["id"] != nil || parent["type"] != nil), lk != "name" && strings.HasSuffix(lk, "name"),
		strings.HasSuffix(lk, "id"), strings.HasSuffix(lk, "ids"), strings.HasSuffix(lk, "uri"), strings.HasSuffix(lk, "url"),
		strings.HasSuffix(lk, "sas"), strings.HasSuffix(lk, "saskey"),
		timeWord(k),
		strings.HasSuffix(lk, "message"), lk == "description", lk == "friendlyname", lk == "displayname", lk == "recommendation",
		// A key the server generates at random (a vault's integrity key,
		// like a SAS key, a security PIN) cannot be the example's.
		lk == "integritykey", lk == "securitypin", lk == "token",
		// A subscription's logical zone maps to a physical zone its own
		// way (Azure shuffles the mapping per subscription), so the
		// author's mapping is not the server's subscription's.
		lk == "physicalzone",
		// Sizes of the author's data (a tiering cost's bytes) cannot be
		// the server's, whose points hold other data.
		strings.HasSuffix(lk, "inbytes"):
		return true
	}
	s, ok := v.(string)
	if !ok {
		return false
	}
	ls := strings.ToLower(s)
	if strings.HasPrefix(ls, "/subscriptions/") || strings.HasPrefix(ls, "subscriptions/") || strings.HasPrefix(ls, "https://") || isGUID(s) {
		return true
	}
	if _, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return true
	}
	return false
}

// timeWord reports whether a camelCase key has a word naming a time, a
// date or a duration (startTime, retentionTimes, timeZone, durationType),
// but not a word that merely contains those letters (validateOperation,
// lastUpdateStatus).
func timeWord(k string) bool {
	for _, w := range reCamelWord.FindAllString(k, -1) {
		switch strings.ToLower(w) {
		case "time", "times", "date", "dates", "datetime", "duration":
			return true
		}
	}
	return false
}

var reCamelWord = regexp.MustCompile(`[A-Z]?[a-z0-9]+|[A-Z]+(?:[a-z0-9]*)`)

func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
				return false
			}
		}
	}
	return true
}

func short(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 80 {
		return string(b[:77]) + "..."
	}
	return string(b)
}
