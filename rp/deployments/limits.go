package deployments

// ARM's template limits, which also bound what one deployment can make
// the server do: a template's expressions are user input.
const (
	maxParameters = 256
	maxVariables  = 512
	maxOutputs    = 64
	maxResources  = 800 // copies counted
	// maxValue bounds one expression's value (ARM limits a template, with
	// its expressions evaluated, to 4 MB).
	maxValue = 4 << 20
	// maxWork bounds what the expressions of one template evaluation
	// produce in all (each function's value, counted by its size).
	maxWork = 256 << 20
	// maxDepth bounds how deep a value nests (as encoding/json's decoder
	// does a JSON text).
	maxDepth = 10000
)

// sizeOf is about how many bytes v takes, counted until limit is passed
// (a value built of shared parts counts each use of a part: its JSON
// does); deep reports nesting beyond maxDepth.
func sizeOf(v any, limit int64) (n int64, deep bool) {
	var walk func(v any, d int) bool
	walk = func(v any, d int) bool {
		if d > maxDepth {
			deep = true
			return false
		}
		switch x := v.(type) {
		case string:
			n += int64(len(x)) + 16
		case []any:
			n += 24
			for _, e := range x {
				if !walk(e, d+1) {
					return false
				}
			}
		case map[string]any:
			n += 48
			for k, e := range x {
				n += int64(len(k)) + 16
				if !walk(e, d+1) {
					return false
				}
			}
		default:
			n += 16
		}
		return n <= limit
	}
	walk(v, 0)
	return n, deep
}

// account counts the value v a function made against the template's
// limits: a value over maxValue or nested over maxDepth, or the
// evaluation's values over maxWork in all, is the template's error.
func (c *evalCtx) account(fn string, v any) error {
	n, deep := sizeOf(v, maxValue)
	if deep {
		return errf("The value of the template function '%s' nests more than %d levels deep.", fn, maxDepth)
	}
	if n > maxValue {
		return errf("The value of the template function '%s' is over %d MB: ARM limits a template, with its expressions evaluated, to 4 MB.", fn, maxValue>>20)
	}
	return c.spend(n)
}

// spend counts n bytes of work against the template's maxWork.
func (c *evalCtx) spend(n int64) error {
	if c.t.work.Add(n) > maxWork {
		return errf("The template's expressions produce more than %d MB in all: ARM limits a template, with its expressions evaluated, to 4 MB. Simplify the expressions.", maxWork>>20)
	}
	return nil
}

// tooLong is the error of a function whose value would pass maxValue.
func tooLong(fn string) error {
	return errf("The value of the template function '%s' would be over %d MB: ARM limits a template, with its expressions evaluated, to 4 MB.", fn, maxValue>>20)
}
