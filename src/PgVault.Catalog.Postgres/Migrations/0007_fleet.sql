-- A fleet of pgvault serve instances sharing this catalog (docs/FLEET.md). Every instance registers and heartbeats in
-- fleet_instances; each configured cluster is backed up by the instance holding its row in fleet_leases, renewed
-- before expires_at. epoch rises at every acquisition: the fencing token a worker checks before it commits. Times are
-- the catalog server's clock, so instances never compare their own clocks.
CREATE TABLE fleet_instances (
    name         text COLLATE "C" NOT NULL PRIMARY KEY,
    host         text        NOT NULL,
    pid          integer     NOT NULL,
    started_at   timestamptz NOT NULL,
    heartbeat_at timestamptz NOT NULL
);

CREATE TABLE fleet_leases (
    cluster_id text COLLATE "C" NOT NULL PRIMARY KEY,
    owner      text COLLATE "C",
    epoch      bigint      NOT NULL,
    expires_at timestamptz NOT NULL
);
