// Generated from the VERSION file by scripts/sync-version (make build runs it): edit VERSION.

/// What `flowscope --version` prints; the Debian package (`make deb`) takes the same version.
let flowscopeVersion = "0.1.0"
