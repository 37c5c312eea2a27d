package compute

// OpenNBDExports is the number of NBD exports the service tracks (those
// endGetAccess would end), for tests.
func (s *Service) OpenNBDExports() int {
	s.nbdGrants.mu.Lock()
	defer s.nbdGrants.mu.Unlock()
	return len(s.nbdGrants.m)
}
