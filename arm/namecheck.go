package arm

// CheckName answers a checkNameAvailability action about a name, as the
// providers' actions share it: unavailable with invalidReason (the
// provider's code: Invalid, AccountNameInvalid) and the message invalid
// when invalid is not "" (the name breaks the naming rules); otherwise,
// unavailable with AlreadyExists and takenMessage when taken says a
// resource already has the name; otherwise available. taken is asked only
// about a valid name.
func CheckName(invalidReason, invalid string, taken func() (bool, error), takenMessage string) (*Response, error) {
	if invalid != "" {
		return OK(map[string]any{"nameAvailable": false, "reason": invalidReason, "message": invalid}), nil
	}
	ok, err := taken()
	if err != nil {
		return nil, err
	}
	if ok {
		return OK(map[string]any{"nameAvailable": false, "reason": "AlreadyExists", "message": takenMessage}), nil
	}
	return OK(map[string]any{"nameAvailable": true}), nil
}
