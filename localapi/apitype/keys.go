package apitype

import "time"

// Subkey is one of the node's subkeys as key list shows it
// (docs/protocol.md §5.9, §5.12).
type Subkey struct {
	Key     string     `json:"key"`     // a signing subkey's public key, or SHA-256 of an encryption subkey's, hex
	Purpose string     `json:"purpose"` // "signing" or "encryption" (a recipient key, §9.1)
	Start   time.Time  `json:"start"`   // the certificate's not-before
	End     time.Time  `json:"end"`     // the certificate's not-after
	Retired *time.Time `json:"retired,omitempty"`
	State   string     `json:"state"`            // "current", "past" or "revoked"; for encryption "current", "grace" or "destroyed"
	Reason  string     `json:"reason,omitempty"` // the revocation's reason
	// Destroy is when an encryption subkey's private key is destroyed
	// (its grace period ends), or was.
	Destroy *time.Time `json:"destroy,omitempty"`
}

// KeyList is GET /v1/keys: the identity and its subkeys, newest first.
type KeyList struct {
	Identity string   `json:"identity"`
	Subkeys  []Subkey `json:"subkeys"`
	// Revoked is present once the identity has revoked itself.
	Revoked *IdentityRevocation `json:"revoked,omitempty"`
}

// IdentityRevocation is POST /v1/identity/revoke's answer, and key list's
// mark of a revoked identity: the identity revoked itself from At on.
type IdentityRevocation struct {
	Identity string    `json:"identity"`
	At       time.Time `json:"at"`
	Reason   string    `json:"reason"`
}

// RotateRequest is POST /v1/keys/rotate.
type RotateRequest struct {
	Purpose string `json:"purpose,omitempty"` // "signing" (the default) or "encryption"
}

// RevokeKeyRequest is POST /v1/keys/{key}/revoke.
type RevokeKeyRequest struct {
	Reason string `json:"reason"` // 1 to 256 characters, one line; every peer sees it
}
