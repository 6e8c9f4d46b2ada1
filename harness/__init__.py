"""Real servers and throwaway PostgreSQL databases, shared by the tests and the benchmarks
(`harness.server.LiveServer`, `harness.pg`). Development tooling: not part of the package."""
