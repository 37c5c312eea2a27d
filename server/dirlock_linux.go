package server

import (
	"errors"
	"os"
	"syscall"
)

// lockExclusive takes an exclusive flock on f without waiting: false when
// another open of the file (in this process or another) holds it.
func lockExclusive(f *os.File) (bool, error) {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, syscall.EWOULDBLOCK):
			return false, nil
		case errors.Is(err, syscall.EINTR):
			continue
		default:
			return false, err
		}
	}
}
