// Package vaultface is what the two vault faces share on the wire: Backup
// vaults (rp/dataprotection) and Recovery Services vaults
// (rp/recoveryservices) both stand on the protection engine and serve some
// of the same resources under their vaults; what they serve alike is
// written here once. It is a face's library, not a face: it registers no
// namespace of its own, and the faces import it (never each other).
package vaultface
