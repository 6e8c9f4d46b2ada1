"""Data, invariants and transactions: what the server stores and the rules it keeps. Knows nothing
about HTTP (tests/test_layers.py holds it to that); every error is a domain error of
models/errors.py carrying the spec's AlienError code.

The database:
- `db`: the one database (a proxy) and the connection and transaction helpers;
- `engines`: SQLite and PostgreSQL behind it, built from `DATABASE_URL`;
- `base`, `fields`: the base model and the column types both engines store alike;
- `schema`: tables, migrations, the first start's bootstrap;
- `paging`: keyset pages for the list operations.

The things stored, one module each, with their named queries and constructors (`create_new`):
`groups`, `deployments`, `releases`, `tokens` (and `revocation`, how every process learns a
token was revoked at once).

The rules that touch several rows, each function one transaction:
- `lifecycle`: a deployment's and a release's life (create, delete, redeploy, retry,
  release propagation);
- `sync`: the sync protocol's leases (acquire, reconcile, release), its rules at its top.

Also: `clock` (the one source of "now", shifted in test mode), `contract` (what the models need
from the spec, given by the app), `fixture_store` (test mode's fixtures, stored and reset).
"""
