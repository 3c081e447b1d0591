"""Sign-in, sessions and response headers: the security plumbing every app shares."""
