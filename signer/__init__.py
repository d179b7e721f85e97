"""Sign and verify PDF official documents (PAdES), with no web or database dependency."""
