"""The RFC 6962 Merkle tree: hashing, stored-hash proofs and proof verification."""
